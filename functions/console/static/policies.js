// Per-anchor policies (PUT /policies, merged by anchor hash; only while the plan is pending):
// which sessions at the anchor migrate (channels, session age), whether they migrate at all
// (update_downstream), and an optional forced migration scenario.
import { CLASS_LABELS } from "./graph.js";
import { h, replace } from "./dom.js";

const FORCE = ["", "clean_graft", "gap_fill", "re_route"];

function listOf(text) {
  const items = text.split(",").map((s) => s.trim()).filter(Boolean);
  return items.length ? items : null; // empty means "no filter", never "no channel at all"
}

function daysOf(text) {
  return text === "" ? null : Number(text);
}

/** The policy a row's inputs describe (or a stored policy, normalised the same way). */
function normalise(policy) {
  const scope = policy.scope_filter || {};
  const scopeFilter = {};
  for (const key of ["include_channels", "exclude_channels", "min_session_age_days", "max_session_age_days"]) {
    if (scope[key] !== null && scope[key] !== undefined) scopeFilter[key] = scope[key];
  }
  return {
    scope_filter: scopeFilter,
    update_downstream: policy.update_downstream !== false,
    ...(policy.force_scenario ? { force_scenario: policy.force_scenario } : {}),
  };
}

function fromRow(row) {
  const field = (name) => row.querySelector(`[name="${name}"]`);
  return normalise({
    scope_filter: {
      include_channels: listOf(field("include_channels").value),
      exclude_channels: listOf(field("exclude_channels").value),
      min_session_age_days: daysOf(field("min_session_age_days").value),
      max_session_age_days: daysOf(field("max_session_age_days").value),
    },
    update_downstream: field("update_downstream").checked,
    force_scenario: field("force_scenario").value || null,
  });
}

function row(anchor, sessions, stored) {
  const policy = normalise(stored || {});
  const scope = policy.scope_filter;
  const days = (name, label) =>
    h("input", { type: "number", name, min: 0, max: 36500, step: 1, value: scope[name] ?? "", "aria-label": `${label} (${anchor.anchor_name})` });
  return h(
    "tr",
    { dataset: { anchor: anchor.anchor_content_hash, anchorName: anchor.anchor_name } },
    h("th", { scope: "row" }, anchor.anchor_name, h("div", { class: "muted mono" }, anchor.to_step_id)),
    h("td", {}, h("span", { class: ["chip", `cls-${anchor.migration_scenario}`] }, CLASS_LABELS[anchor.migration_scenario])),
    h("td", { class: "num" }, String(sessions)),
    h("td", {}, h("input", { name: "include_channels", value: (scope.include_channels || []).join(", "), placeholder: "all", "aria-label": `Include channels (${anchor.anchor_name})` })),
    h("td", {}, h("input", { name: "exclude_channels", value: (scope.exclude_channels || []).join(", "), placeholder: "none", "aria-label": `Exclude channels (${anchor.anchor_name})` })),
    h("td", {}, days("min_session_age_days", "Min age in days")),
    h("td", {}, days("max_session_age_days", "Max age in days")),
    h("td", { class: "center" }, h("input", { type: "checkbox", name: "update_downstream", checked: policy.update_downstream, "aria-label": `Migrate sessions (${anchor.anchor_name})` })),
    h(
      "td",
      {},
      h(
        "select",
        { name: "force_scenario", "aria-label": `Force scenario (${anchor.anchor_name})` },
        FORCE.map((f) => h("option", { value: f, selected: (policy.force_scenario || "") === f }, f ? CLASS_LABELS[f] : "as planned")),
      ),
    ),
  );
}

export function renderPolicies(panel, view) {
  const { model } = view;
  const plan = view.plan;
  const editable = plan.status === "pending";
  const stored = plan.policies || {};
  const rows = model.anchors.map((a) => row(a, model.sessionsAt(a), stored[a.anchor_content_hash]));
  const message = h("p", { class: "message", id: "policies-message", role: "status" });
  const filter = h("input", { type: "search", placeholder: "filter anchors", "aria-label": "Filter anchors" });
  filter.addEventListener("input", () => {
    const text = filter.value.trim().toLowerCase();
    for (const r of rows) r.hidden = Boolean(text) && !r.dataset.anchorName.toLowerCase().includes(text);
  });
  const save = async (event) => {
    event.preventDefault();
    const changed = {};
    for (const r of rows) {
      const policy = fromRow(r);
      if (JSON.stringify(policy) !== JSON.stringify(normalise(stored[r.dataset.anchor] || {}))) {
        changed[r.dataset.anchor] = policy;
      }
    }
    if (!Object.keys(changed).length) {
      replace(message, "Nothing changed.");
      return;
    }
    try {
      const updated = await view.ctx.api.put(`migration-plans/${encodeURIComponent(plan.id)}/policies`, { policies: changed });
      view.plan = { ...view.plan, policies: updated.policies, updated_at: updated.updated_at };
      renderPolicies(panel, view);
      const shown = panel.querySelector("#policies-message");
      shown.className = "message ok";
      replace(shown, `Saved the policies of ${Object.keys(changed).length} anchor(s).`);
    } catch (error) {
      message.className = "message error";
      const details = Array.isArray(error.details) ? error.details.map((d) => `${d.location}: ${d.message}`) : [];
      replace(message, error.message, details.length ? ` (${details.join("; ")})` : "");
    }
  };
  replace(
    panel,
    h("h3", {}, "Policies per anchor"),
    h(
      "p",
      { class: "muted" },
      editable
        ? "Sessions outside an anchor's scope stay on their version until they end. Channels are comma separated; ages are whole days since the session started."
        : `The plan is ${plan.status}: policies can change only while it is pending.`,
    ),
    model.anchors.length > 12 ? filter : null,
    h(
      "form",
      { id: "policies-form", onsubmit: save },
      h(
        "fieldset",
        { disabled: !editable },
        h(
          "div",
          { class: "table-scroll" },
          h(
            "table",
            { class: "policies" },
            h(
              "thead",
              {},
              h("tr", {}, ["Anchor", "Classification", "Sessions", "Include channels", "Exclude channels", "Min age (days)", "Max age (days)", "Migrate", "Force"].map((t) => h("th", {}, t))),
            ),
            h("tbody", {}, rows),
          ),
        ),
        h("button", { type: "submit", class: "primary", id: "save-policies" }, "Save policies"),
      ),
    ),
    message,
  );
}
