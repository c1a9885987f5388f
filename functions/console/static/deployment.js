// A deployment, live: GET /deployment-status every 2 s while the plan is deploying or deployed
// (customers keep migrating after marking ends), paused while the tab is hidden. A canary shows
// its slices and guard, and a widen form that the polls leave alone.
import { canarySummary, widenForm } from "./canary.js";
import { h, replace, statusBadge, when } from "./dom.js";

const EVERY_MS = 2000;
const TILES = [
  ["clean_graft", "Clean graft", (s) => s.migrations_by_scenario.clean_graft],
  ["gap_fill", "Gap fill", (s) => s.migrations_by_scenario.gap_fill],
  ["re_route", "Re-route", (s) => s.migrations_by_scenario.re_route],
  ["checkpoint_blocks", "Checkpoint blocks", (s) => s.checkpoint_blocks],
  ["sessions_awaiting_input", "Awaiting input", (s) => s.sessions_awaiting_input],
  ["sessions_kept", "Kept on their version", (s) => s.sessions_kept],
  ["condition_errors", "Condition errors", (s) => s.condition_errors],
  ["migrations_pending", "Marked, not yet migrated", (s) => s.migrations_pending],
];

function render(panel, status, updated) {
  const { units_done: done, units_total: total } = status.fanout;
  const marking =
    total > 0
      ? [h("progress", { id: "marking-progress", max: total, value: done }), h("span", {}, ` ${done} of ${total} work units · `)]
      : [h("span", {}, "Nothing to mark · ")];
  replace(
    panel,
    h("h3", {}, "Deployment ", statusBadge(status.status, { id: "deployment-status" })),
    h("p", { class: "marking" }, "Marking: ", marking, h("strong", { id: "sessions-marked" }, String(status.sessions_marked)), " sessions marked"),
    status.canary ? canarySummary(status.canary) : null,
    h(
      "div",
      { class: "tiles" },
      h("div", { class: "tile total" }, h("span", {}, "Migrated"), h("strong", { id: "count-migrations_applied" }, String(status.migrations_applied))),
      TILES.map(([key, label, read]) =>
        h("div", { class: ["tile", `tile-${key}`] }, h("span", {}, label), h("strong", { id: `count-${key}` }, String(read(status) ?? 0))),
      ),
    ),
    h(
      "p",
      { class: "muted" },
      `Deployed ${when(status.deployed_at)} · last migration ${when(status.last_migration_at)} · updated ${updated.toLocaleTimeString()}`,
    ),
  );
}

/** Follows the plan's deployment into `panel`; returns the function that stops it. */
export function followDeployment(panel, view, onStatus) {
  let timer = null;
  let stopped = false;
  const live = h("div", { id: "deployment-live" });
  const widen = widenForm(view, (status) => show(status)); // its answer is a status too
  function show(status) {
    render(live, status, new Date());
    widen.update(status);
    if (status.status !== view.plan.status) onStatus(status.status);
  }
  replace(panel, live, widen.element);
  const schedule = (ms) => {
    if (!stopped) timer = setTimeout(tick, ms);
  };
  async function tick() {
    timer = null;
    if (document.hidden) return schedule(EVERY_MS);
    try {
      const status = await view.ctx.api.get(`migration-plans/${encodeURIComponent(view.plan.id)}/deployment-status`);
      if (stopped) return;
      show(status);
      if (status.status === "deploying" || status.status === "deployed") schedule(EVERY_MS);
    } catch (error) {
      if (stopped) return;
      replace(live, h("h3", {}, "Deployment"), h("p", { class: "error" }, `Status unavailable: ${error.message} (retrying)`));
      schedule(EVERY_MS * 2);
    }
  }
  tick();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
