// The dry run: POST /simulate on a random sample of the live sessions at the plan's anchors (a
// seed draws the same sample again), then what JIT would decide now, session by session, and
// what it adds up to. The API writes nothing; it answers 409 for a plan it cannot simulate.
import { h, replace, when } from "./dom.js";

const MAX_SAMPLE = 1000;

function counts(id, title, entries) {
  return h(
    "div",
    { class: "sim-counts", id },
    h("h4", {}, title),
    entries.length
      ? h("ul", { class: "chips" }, entries.map(([key, n]) => h("li", { dataset: { key } }, h("span", {}, key), " ", h("strong", {}, String(n)))))
      : h("p", { class: "muted" }, "None."),
  );
}

function anchorTable(byAnchor) {
  const rows = Object.entries(byAnchor).map(([hash, a]) =>
    h(
      "tr",
      { dataset: { anchor: hash, anchorName: a.anchor_name || "" } },
      h("td", { title: hash }, a.anchor_name || hash),
      h("td", { class: "num" }, String(a.sessions)),
      h("td", {}, Object.entries(a.by_outcome).map(([o, n]) => `${o} ${n}`).join(" · ")),
    ),
  );
  return [
    h("h4", {}, "By anchor"),
    rows.length
      ? h("table", { id: "sim-anchors" }, h("thead", {}, h("tr", {}, h("th", {}, "Anchor"), h("th", {}, "Sessions"), h("th", {}, "Outcomes"))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No session at an anchor."),
  ];
}

function questionList(questions) {
  return [
    h("h4", {}, "Questions customers would be asked"),
    questions.length
      ? h("ul", { id: "sim-questions" }, questions.map((q) => h("li", { dataset: { field: q.field, count: q.count } }, h("code", {}, q.field), ` “${q.text}” × ${q.count}`)))
      : h("p", { class: "muted", id: "sim-questions" }, "None."),
  ];
}

function fields(filled) {
  return Object.entries(filled || {})
    .map(([name, f]) => `${name}=${JSON.stringify(f.value)} (${f.source})`)
    .join(", ");
}

function detour(r) {
  if (r.re_route) return `re-route → ${r.re_route.to_step_id}`;
  if (r.checkpoint_block) return `checkpoint block${r.checkpoint_block.to_step_id ? ` before ${r.checkpoint_block.to_step_id}` : ""}`;
  return "";
}

function resultRow(r) {
  const move = r.from_step_id ? `${r.from_step_id} → ${r.to_step_id ?? "—"}` : "";
  return h(
    "tr",
    { dataset: { sessionId: r.session_id, outcome: r.outcome } },
    h("td", {}, h("code", {}, r.session_id)),
    h("td", { class: "sim-outcome" }, r.outcome),
    h("td", { class: "sim-scenario" }, r.migration_scenario || ""),
    h("td", { class: "sim-move" }, move),
    h("td", {}, fields(r.filled_fields)),
    h("td", {}, (r.questions || []).map((q) => q.field).join(", ")),
    h("td", { class: "sim-reason" }, r.reason || ""),
    h("td", { class: "sim-detour" }, detour(r)),
  );
}

function resultTable(results) {
  const head = ["Session", "Outcome", "Scenario", "Step", "Filled fields", "Questions", "Reason", "Re-route / block"];
  return h(
    "div",
    { class: "table-scroll" },
    h("table", { id: "sim-results" }, h("thead", {}, h("tr", {}, head.map((t) => h("th", {}, t)))), h("tbody", {}, results.map(resultRow))),
  );
}

function missingInputs(results) {
  return [...new Set(results.flatMap((r) => r.inputs_missing || []))];
}

function renderAnswer(out, answer) {
  const a = answer.aggregate;
  const missing = missingInputs(answer.results);
  replace(
    out,
    h(
      "p",
      { class: "sim-note", id: "sim-note" },
      `Dry run of ${a.sessions} session(s) (${answer.mode}, plan ${answer.status}`,
      answer.canary_percent !== null && answer.canary_percent !== undefined ? `, canary ${answer.canary_percent} %` : "",
      `) at ${when(answer.simulated_at)}: it wrote nothing. `,
      missing.length ? h("span", { id: "sim-missing" }, `Not known to the dry run: ${missing.join(", ")} (a field the runtime would send shows as a question here).`) : null,
    ),
    h(
      "div",
      { class: "sim-aggregate", id: "sim-aggregate" },
      counts("sim-by-outcome", "By outcome", Object.entries(a.by_outcome)),
      counts("sim-by-scenario", "By migration scenario", Object.entries(a.by_migration_scenario)),
    ),
    anchorTable(a.by_anchor),
    questionList(a.questions),
    h("h4", {}, `Sessions (${answer.results.length})`),
    resultTable(answer.results),
  );
}

function requestBody(sample, seed) {
  const body = { sample: Number(sample.value) };
  if (seed.value.trim() !== "") body.seed = Number(seed.value);
  return body;
}

/** The dry-run form and its answer into `panel`, for the plan `view` shows. */
export function renderSimulation(panel, view) {
  const sample = h("input", { type: "number", id: "sim-sample", name: "sample", min: 1, max: MAX_SAMPLE, step: 1, required: true, value: 100 });
  const seed = h("input", { type: "number", id: "sim-seed", name: "seed", step: 1, placeholder: "random" });
  const run = h("button", { type: "submit", id: "simulate" }, "Simulate");
  const message = h("p", { class: "message error", id: "simulate-error", role: "alert", hidden: true });
  const out = h("div", { id: "simulation" });
  const submit = async (event) => {
    event.preventDefault();
    message.hidden = true;
    run.disabled = true;
    try {
      const answer = await view.ctx.api.post(`migration-plans/${encodeURIComponent(view.plan.id)}/simulate`, requestBody(sample, seed));
      renderAnswer(out, answer);
    } catch (error) {
      message.hidden = false;
      replace(message, error.message);
    } finally {
      run.disabled = false;
    }
  };
  replace(
    panel,
    h("h3", {}, "Dry run"),
    h("p", { class: "muted" }, "What JIT would decide now for a random sample of the live sessions at the plan's anchors. Writes nothing; pending, approved and open plans only."),
    h("form", { id: "simulate-form", class: "inline-form", onsubmit: submit }, h("label", {}, "Sample ", sample), h("label", {}, "Seed ", seed), run),
    message,
    out,
  );
}
