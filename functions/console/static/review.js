// A plan under review: both versions side by side, the warnings beside them (critical first),
// the selected step's details, the policies, the dry run, the decision and the live deployment.
import { readPlan } from "./api.js";
import { renderDecision } from "./decision.js";
import { followDeployment } from "./deployment.js";
import { h, replace, shortId, statusBadge, when } from "./dom.js";
import { CLASS_LABELS, drawGraph } from "./graph.js";
import { CLASSIFICATIONS, reviewModel } from "./model.js";
import { renderPolicies } from "./policies.js";
import { renderSimulation } from "./simulate.js";

const FOLLOWED = new Set(["deploying", "deployed", "cancelled"]);

function legend() {
  const swatch = (cls, label) => h("span", { class: "legend-item" }, h("span", { class: ["swatch", `cls-${cls}`] }), label);
  const mark = (cls, label) => h("span", { class: "legend-item" }, h("span", { class: ["swatch", "mark", `mark-${cls}`] }), label);
  return h(
    "div",
    { class: "legend", id: "legend" },
    CLASSIFICATIONS.map((c) => swatch(c, CLASS_LABELS[c])),
    mark("inserted", "new step"),
    mark("moved", "moved checkpoint / action"),
    mark("edited", "edited in place"),
    mark("deleted", "deleted"),
    h("span", { class: "legend-item" }, h("span", { class: "pill" }, "n"), "live sessions (plan time)"),
    h("span", { class: "legend-item" }, h("span", { class: "dot sev-critical" }), "warnings"),
  );
}

function head(view) {
  const { plan } = view;
  const s = plan.summary;
  const count = (label, value, id) => h("div", { class: "count" }, h("strong", { id }, String(value)), h("span", {}, label));
  return [
    h(
      "h2",
      {},
      h("a", { href: `#/plans?scenario=${encodeURIComponent(plan.scenario_id)}`, class: "link" }, plan.scenario_id),
      ` · v${plan.from_version} → v${plan.to_version} · plan `,
      h("code", { title: plan.id }, shortId(plan.id)),
      " ",
      statusBadge(plan.status, { id: "plan-status" }),
    ),
    h("p", { class: "muted" }, `Created by ${plan.created_by} at ${when(plan.created_at)} · updated ${when(plan.updated_at)}`),
    h(
      "div",
      { class: "counts" },
      count("anchors", s.total_anchors, "n-anchors"),
      count("clean graft", s.anchors_with_clean_graft, "n-clean_graft"),
      count("gap fill", s.anchors_with_gap_fill, "n-gap_fill"),
      count("re-route", s.anchors_with_re_route, "n-re_route"),
      count("deleted steps", s.nodes_deleted, "n-deleted"),
      count("sessions affected", s.estimated_sessions_affected, "n-affected"),
      s.fields_to_collect.length ? count("fields may be asked", s.fields_to_collect.map((f) => f.field).join(", "), "n-fields") : null,
    ),
    legend(),
  ];
}

function warningList(view, select) {
  const { warnings } = view.model;
  const name = (t) => (t.version === 1 ? view.model.old : view.model.new).byId.get(t.stepId)?.name || t.stepId;
  return [
    h("h3", {}, `Warnings (${warnings.length})`),
    warnings.length ? null : h("p", { class: "muted" }, "None."),
    h(
      "ol",
      { class: "warnings", id: "warning-list" },
      warnings.map((w) =>
        h(
          "li",
          { class: ["warning", `sev-${w.severity}`], dataset: { code: w.code, severity: w.severity } },
          h("span", { class: ["chip", `sev-${w.severity}`] }, w.severity),
          " ",
          w.message,
          w.affected_sessions_estimate ? h("span", { class: "muted" }, ` · ${w.affected_sessions_estimate} session(s)`) : null,
          h(
            "div",
            { class: "targets" },
            w.targets.map((t) =>
              h("button", { type: "button", class: "link", onclick: () => select(t.version, t.stepId) }, `v${t.version === 1 ? view.plan.from_version : view.plan.to_version}: ${name(t)}`),
            ),
            h("code", { class: "muted" }, w.code),
          ),
        ),
      ),
    ),
  ];
}

function changesList(title, changes) {
  const items = [
    ...changes.inserted_nodes.map((n) => `inserted ${n.node_name}${n.collects_fields.length ? ` (asks ${n.collects_fields.join(", ")})` : ""}${n.is_checkpoint ? " (checkpoint)" : ""}`),
    ...changes.removed_nodes.map((n) => `removed ${n.node_name}`),
    ...changes.new_forks.map((f) => `fork at ${f.step_name} (${f.kinds.join(", ")}): ${f.branches.map((b) => `${b.condition || "otherwise"} → ${b.to_step_id}`).join("; ")}`),
    ...changes.modified_transitions.map((t) => `${t.change} ${t.from_step_id} → ${t.to_step_id}${t.condition ? ` when ${t.condition}` : ""}`),
  ];
  return items.length ? [h("h4", {}, title), h("ul", {}, items.map((i) => h("li", {}, i)))] : [];
}

function details(view, node, version) {
  const anchor = node.anchor;
  const rows = [
    ["Step", `${node.name} (${node.id}), version ${version === 1 ? view.plan.from_version : view.plan.to_version}`],
    ["Classification", CLASS_LABELS[node.classification] || node.classification],
    ["Marked", node.marks.join(", ") || "—"],
    ["Live sessions (plan time)", String(node.sessions)],
  ];
  if (anchor) rows.push(["Anchor", `${anchor.anchor_content_hash}${anchor.edited ? " (edited: was " + anchor.from_content_hash + ")" : ""}`]);
  if (anchor?.fields_on_the_way.length) rows.push(["Fields on the way", anchor.fields_on_the_way.join(", ")]);
  if (node.deleted) rows.push(["Sessions here go to", node.deleted.nearest_anchor_name ? `${node.deleted.nearest_anchor_name} (${node.deleted.relocation})` : "nowhere: they stay on their version"]);
  return [
    h("h3", {}, `Step: ${node.name}`),
    h("dl", { class: "facts" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    anchor ? changesList("Changes on the way here", anchor.upstream_changes) : null,
    anchor ? changesList("Changes after it", anchor.downstream_changes) : null,
    node.warnings.length
      ? [h("h4", {}, "Warnings"), h("ul", {}, node.warnings.map((w) => h("li", { class: `sev-${w.severity}` }, `${w.severity}: ${w.message}`)))]
      : null,
  ];
}

export async function showPlan(main, ctx, planId, isCurrent) {
  const id = encodeURIComponent(planId);
  replace(main, h("p", { class: "muted" }, "Loading the plan…"));
  const plan = await readPlan(ctx.api, planId);
  const [oldVersion, newVersion] = await Promise.all([
    ctx.api.get(`scenarios/${encodeURIComponent(plan.scenario_id)}/versions/${plan.from_version}`).catch(() => null),
    ctx.api.get(`migration-plans/${id}/new-scenario`),
  ]);
  if (!isCurrent()) return () => {};
  const oldDoc = oldVersion ? oldVersion.document : { steps: [], entry_step_id: null };
  const panels = {
    head: h("section", { class: "panel plan-head", id: "plan-head" }),
    v1: h("div", { class: "panel graph-panel", id: "graph-v1" }),
    v2: h("div", { class: "panel graph-panel", id: "graph-v2" }),
    warnings: h("aside", { class: "panel warnings-panel", id: "warnings" }),
    details: h("section", { class: "panel", id: "step-details" }, h("p", { class: "muted" }, "Select a step (click or Enter) to see its changes and warnings.")),
    policies: h("section", { class: "panel", id: "policies" }),
    dryRun: h("section", { class: "panel", id: "dry-run" }),
    decision: h("section", { class: "panel", id: "decision" }),
    deployment: h("section", { class: "panel", id: "deployment", hidden: true }),
  };
  const model = reviewModel(plan, plan.transformation_map, oldDoc, newVersion.document);
  const view = { ctx, plan, model, graphs: {}, stop: null };
  const select = (version, stepId) => {
    const side = version === 1 ? view.model.old : view.model.new;
    const node = side.byId.get(stepId);
    if (!node) return;
    const ids = { 1: new Set(), 2: new Set() };
    ids[version].add(stepId);
    if (node.counterpart) ids[version === 1 ? 2 : 1].add(node.counterpart);
    view.graphs[1]?.highlight(ids[1]);
    view.graphs[2]?.highlight(ids[2]);
    replace(panels.details, details(view, node, version));
  };
  const follow = () => {
    if (view.stop || !FOLLOWED.has(view.plan.status)) return;
    panels.deployment.hidden = false;
    view.stop = followDeployment(panels.deployment, view, () => view.refresh());
  };
  view.refresh = async () => {
    const fresh = await ctx.api.get(`migration-plans/${id}`);
    // The map and the warnings never change: the pages read at load stay; the rest is fresh.
    const summary = { ...fresh.summary, warnings: view.plan.summary.warnings };
    view.plan = { ...fresh, summary, transformation_map: view.plan.transformation_map };
    replace(panels.head, head(view));
    renderPolicies(panels.policies, view);
    renderDecision(panels.decision, view);
    follow();
  };
  replace(
    main,
    panels.head,
    panels.deployment, // shown once the plan is deploying: what the operator follows then
    h("section", { class: "review-grid" }, panels.v1, panels.v2, panels.warnings),
    panels.details,
    panels.policies,
    panels.dryRun,
    panels.decision,
  );
  replace(panels.head, head(view));
  replace(panels.warnings, warningList(view, select));
  renderPolicies(panels.policies, view);
  renderSimulation(panels.dryRun, view); // drawn once: its answer stays while the plan moves on
  renderDecision(panels.decision, view);
  follow();
  const oldTitle = oldVersion ? `Version ${plan.from_version} (old)` : `Version ${plan.from_version} (no longer stored)`;
  view.graphs[1] = await drawGraph(panels.v1, view.model.old, oldTitle, (node) => select(1, node.id));
  view.graphs[2] = await drawGraph(panels.v2, view.model.new, `Version ${plan.to_version} (new)`, (node) => select(2, node.id));
  return () => view.stop?.();
}
