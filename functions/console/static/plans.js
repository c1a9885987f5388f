// The plans of the tenant, newest first, filtered by scenario and status, page by page
// (next_token), and the scenarios they belong to (the API lists plans; a scenario shows up here
// once it has one, and any scenario id can be typed into the filter).
import { query } from "./api.js";
import { h, replace, shortId, statusBadge, when } from "./dom.js";

export const STATUSES = ["pending", "approved", "rejected", "deploying", "deployed", "superseded", "expired", "cancelled"];
const PAGE = 20;

function filtersForm(params) {
  const scenario = h("input", { id: "filter-scenario", name: "scenario", list: "known-scenarios", placeholder: "any scenario", value: params.get("scenario") || "" });
  const status = h(
    "select",
    { id: "filter-status", name: "status" },
    h("option", { value: "" }, "any status"),
    STATUSES.map((s) => h("option", { value: s, selected: params.get("status") === s }, s)),
  );
  const apply = (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (scenario.value.trim()) next.set("scenario", scenario.value.trim());
    if (status.value) next.set("status", status.value);
    location.hash = `#/plans${next.toString() ? `?${next}` : ""}`;
  };
  return h(
    "form",
    { class: "filters", id: "plan-filters", onsubmit: apply },
    h("label", {}, "Scenario ", scenario),
    h("label", {}, "Status ", status),
    h("button", { type: "submit" }, "Filter"),
    params.toString() ? h("a", { href: "#/plans", class: "link" }, "clear") : null,
  );
}

function planRow(plan) {
  const href = `#/plans/${encodeURIComponent(plan.id)}`;
  return h(
    "tr",
    { dataset: { planId: plan.id, status: plan.status } },
    h("td", {}, h("a", { href, class: "plan-link" }, shortId(plan.id))),
    h("td", {}, plan.scenario_id),
    h("td", {}, `v${plan.from_version} → v${plan.to_version}`),
    h("td", {}, statusBadge(plan.status)),
    h("td", {}, when(plan.created_at)),
    h("td", {}, plan.created_by),
    h("td", {}, when(plan.deployed_at)),
  );
}

function scenarioList(ctx, plans, known) {
  const byScenario = new Map();
  for (const plan of plans) {
    const counts = byScenario.get(plan.scenario_id) || {};
    counts[plan.status] = (counts[plan.status] || 0) + 1;
    byScenario.set(plan.scenario_id, counts);
  }
  const items = [...byScenario.entries()].map(([id, counts]) => {
    const active = known.get(id) || h("span", { class: "muted" }, "…");
    known.set(id, active);
    if (active.classList.contains("muted") && !active.dataset.asked) {
      active.dataset.asked = "1";
      ctx.api
        .get(`scenarios/${encodeURIComponent(id)}`)
        .then((s) => replace(active, `v${s.version} active · ${s.name}`))
        .catch(() => replace(active, "not found"));
    }
    return h(
      "li",
      { dataset: { scenarioId: id } },
      h("a", { href: `#/plans?scenario=${encodeURIComponent(id)}` }, h("strong", {}, id)),
      h("div", {}, active),
      h("div", { class: "counts" }, Object.entries(counts).map(([status, n]) => statusBadge(`${status} ${n}`, { class: ["badge", `status-${status}`] }))),
    );
  });
  return h("ul", { class: "scenario-list", id: "scenario-list" }, items.length ? items : h("li", { class: "muted" }, "No plans yet."));
}

export async function showPlans(main, ctx, params) {
  const loaded = [];
  const known = new Map();
  let nextToken = null;
  const body = h("tbody", {});
  const more = h("button", { id: "more-plans", hidden: true }, "More plans");
  const scenarios = h("div", {});
  const datalist = h("datalist", { id: "known-scenarios" });
  const table = h(
    "table",
    { class: "plans", id: "plan-list" },
    h("thead", {}, h("tr", {}, ["Plan", "Scenario", "Versions", "Status", "Created", "By", "Deployed"].map((t) => h("th", {}, t)))),
    body,
  );
  const open = h(
    "form",
    { class: "open-plan", onsubmit: (event) => (event.preventDefault(), (location.hash = `#/plans/${encodeURIComponent(event.target.plan.value.trim())}`)) },
    h("label", {}, "Open a plan by id ", h("input", { name: "plan", required: true, placeholder: "plan id" })),
    h("button", { type: "submit" }, "Open"),
  );
  const load = async () => {
    more.disabled = true;
    const page = await ctx.api.get(
      `migration-plans${query({ scenario_id: params.get("scenario"), status: params.get("status"), limit: PAGE, next_token: nextToken })}`,
    );
    loaded.push(...page.items);
    body.append(...page.items.map(planRow));
    if (!loaded.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No plan matches.")));
    nextToken = page.next_token;
    more.hidden = !nextToken;
    more.disabled = false;
    replace(scenarios, scenarioList(ctx, loaded, known));
    replace(datalist, [...known.keys()].map((id) => h("option", { value: id })));
  };
  more.addEventListener("click", () => load().catch((error) => ctx.notify(error.message, "error")));
  replace(
    main,
    h(
      "section",
      { class: "plans-view" },
      h("aside", { class: "panel" }, h("h2", {}, "Scenarios"), scenarios),
      h(
        "div",
        { class: "panel" },
        h("h2", {}, "Migration plans"),
        filtersForm(params),
        datalist,
        table,
        more,
        open,
      ),
    ),
  );
  await load();
  return () => {};
}
