// Canary deployments: the percent to deploy to (100: all at once, as before), where new sessions
// start below 100, and, once deployed, the canary's slices, its guard, and widening it.
import { h, replace, when } from "./dom.js";

const FULL = 100;

function slider(id, min, value) {
  const input = h("input", { type: "range", id, name: "canary_percent", min, max: FULL, step: 1, value });
  const shown = h("output", { for: id, id: `${id}-value` }, `${value} %`);
  input.addEventListener("input", () => replace(shown, `${input.value} %`));
  return { input, shown };
}

/** The deploy controls: a percent slider and, below 100, the version new sessions start on.
 * `deploy(body)` gets undefined for a full deployment (the body of old). */
export function deployControls(plan, deploy) {
  const { input, shown } = slider("canary-percent", 1, FULL);
  const newSessions = h(
    "select",
    { id: "new-sessions", name: "new_sessions" },
    h("option", { value: "v1" }, `v${plan.from_version} (until the canary reaches 100 %)`),
    h("option", { value: "v2" }, `v${plan.to_version} at once`),
  );
  const choice = h("label", { id: "new-sessions-choice", hidden: true }, "New sessions start on ", newSessions);
  const button = h("button", { type: "submit", class: "primary", id: "deploy" }, `Deploy version ${plan.to_version}`);
  const label = () => {
    const percent = Number(input.value);
    choice.hidden = percent >= FULL;
    replace(button, percent >= FULL ? `Deploy version ${plan.to_version}` : `Deploy version ${plan.to_version} to ${percent} %`);
  };
  input.addEventListener("input", label);
  const submit = (event) => {
    event.preventDefault();
    const percent = Number(input.value);
    deploy(percent >= FULL ? undefined : { canary_percent: percent, new_sessions: newSessions.value });
  };
  return h("form", { id: "deploy-form", class: "inline-form", onsubmit: submit }, h("label", {}, "Sessions to migrate ", input, " ", shown), choice, button);
}

function sliceRows(slices) {
  return slices.map((s) =>
    h(
      "tr",
      { dataset: { slice: s.slice, from: s.from_percent, to: s.to_percent } },
      h("td", { class: "num" }, String(s.slice)),
      h("td", {}, `${s.from_percent} → ${s.to_percent} %`),
      h("td", {}, `${when(s.at)}${s.by ? ` by ${s.by}` : ""}`),
      h("td", { class: "num slice-marked" }, String(s.sessions_marked)),
      h("td", { class: "slice-units" }, `${s.units_done} of ${s.units_total}`),
    ),
  );
}

function guardLine(guard) {
  const figure = (key, label, value) => h("span", { class: "guard-figure" }, `${label} `, h("strong", { id: `guard-${key}` }, String(value)));
  return h(
    "p",
    { id: "canary-guard", class: ["guard", guard.tripped && "tripped"], dataset: { tripped: guard.tripped } },
    "Guard: ",
    figure("migrations_applied", "migrated", guard.migrations_applied),
    figure("checkpoint_blocks", "· blocked", guard.checkpoint_blocks),
    figure("sessions_kept", "· kept", guard.sessions_kept),
    figure("condition_errors", "· condition errors", guard.condition_errors),
    figure("share", "· troubled share", `${(guard.share * 100).toFixed(1)} %`),
    ` of ${guard.judged} judged (refuses above ${(guard.threshold * 100).toFixed(1)} % once ${guard.min_migrations} are in)`,
    guard.tripped ? h("strong", { class: "error" }, " · tripped: widening is refused") : null,
  );
}

/** The canary's percent, new sessions' version, slices and guard (deployment-status's `canary`). */
export function canarySummary(canary) {
  const head = ["Slice", "Percent", "Widened", "Marked", "Work units"].map((t) => h("th", {}, t));
  return h(
    "div",
    { class: "canary", id: "canary", dataset: { percent: canary.percent } },
    h("h4", {}, canary.percent < FULL || canary.slices.length > 1 ? "Canary at " : "All at once: ", h("strong", { id: "canary-percent-now" }, `${canary.percent} %`), ` · new sessions start on v${canary.new_sessions_version}`),
    h("table", { id: "canary-slices" }, h("thead", {}, h("tr", {}, head)), h("tbody", {}, sliceRows(canary.slices))),
    guardLine(canary.guard),
  );
}

function guardText(error) {
  const guard = error.details && error.details.guard;
  if (!guard) return error.message;
  const figures = Object.entries(guard).map(([k, v]) => `${k} ${v}`).join(", ");
  return `${error.message} (${figures})`;
}

/** The widen form: kept across the status polls (a slider being dragged is not redrawn).
 * `update(status)` fits it to the latest status; `widened(status)` gets the API's answer. */
export function widenForm(view, widened) {
  const { input, shown } = slider("widen-percent", 2, FULL);
  const button = h("button", { type: "submit", class: "primary", id: "widen" }, "Widen");
  const message = h("p", { class: "message error", id: "widen-error", role: "alert", hidden: true });
  const form = h("form", { id: "widen-form", class: "inline-form", hidden: true }, h("label", {}, "Widen to ", input, " ", shown), button);
  let current = FULL;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.hidden = true;
    button.disabled = true;
    try {
      const body = { canary_percent: Number(input.value) };
      widened(await view.ctx.api.post(`migration-plans/${encodeURIComponent(view.plan.id)}/widen`, body));
    } catch (error) {
      message.hidden = false;
      replace(message, guardText(error));
    } finally {
      button.disabled = false;
    }
  });
  const update = (status) => {
    const canary = status.canary;
    const open = status.status === "deploying" || status.status === "deployed";
    form.hidden = !canary || !open || canary.percent >= FULL;
    if (!canary || canary.percent === current) return;
    current = canary.percent;
    input.min = String(Math.min(current + 1, FULL)); // only above the current percent
    if (Number(input.value) <= current) input.value = String(FULL);
    replace(shown, `${input.value} %`);
  };
  return { element: h("div", { class: "widen" }, form, message), update };
}
