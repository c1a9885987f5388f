// What the review shows, derived from the plan and both versions' documents (pure: no DOM).
// Old version (V1): anchors coloured by classification, deleted and ambiguous steps marked.
// New version (V2): anchors coloured, inserted / moved / edited steps and changed forks marked.
// Edges: added, removed or with a changed condition, compared through the planner's matching.

export const CLASSIFICATIONS = ["clean_graft", "gap_fill", "re_route"];
const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };
// Warning codes whose first part after the kind is a step id of the old version.
const OLD_VERSION_KINDS = new Set(["checkpoint_reordered", "deleted_step_sessions", "deleted_checkpoint"]);

export function sortWarnings(warnings) {
  return [...warnings].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
}

function collects(step) {
  return step.collects_fields || step.collects_profile_fields || [];
}

function stepsById(doc) {
  return new Map(doc.steps.map((step) => [step.id, step]));
}

/** The steps a warning is about, from its code (which names step ids) or else its names. */
export function warningTargets(warning, oldSteps, newSteps, ambiguous) {
  const code = warning.code || "";
  const kind = code.split(":", 1)[0];
  const rest = code.slice(kind.length + 1);
  if (kind === "ambiguous_step") {
    const twin = ambiguous.find((a) => a.content_hash === rest);
    if (twin) {
      return [
        ...twin.from_step_ids.map((id) => ({ version: 1, stepId: id })),
        ...twin.to_step_ids.map((id) => ({ version: 2, stepId: id })),
      ];
    }
  }
  if (rest) {
    const first = OLD_VERSION_KINDS.has(kind) ? [[1, oldSteps], [2, newSteps]] : [[2, newSteps], [1, oldSteps]];
    const candidates = [rest, rest.replace(/:\d+$/, "")]; // a condition's code ends with its index
    for (let i = rest.indexOf(":"); i > 0; i = rest.indexOf(":", i + 1)) candidates.push(rest.slice(0, i));
    for (const [version, steps] of first) {
      const id = candidates.find((candidate) => steps.has(candidate));
      if (id) return [{ version, stepId: id }];
    }
  }
  for (const name of [warning.step_name, warning.anchor_name]) {
    if (!name) continue;
    for (const [version, steps] of [[2, newSteps], [1, oldSteps]]) {
      const step = [...steps.values()].find((s) => s.name === name);
      if (step) return [{ version, stepId: step.id }];
    }
  }
  return [];
}

function edgesOf(doc) {
  return doc.steps.flatMap((step) =>
    (step.transitions || []).map((t, index) => ({
      from: step.id,
      to: t.to_step_id,
      condition: t.condition || null,
      priority: t.priority ?? 0,
      index,
    })),
  );
}

function conditionsByPair(edges) {
  const found = new Map();
  for (const edge of edges) {
    const key = `${edge.from}\u0000${edge.to}`;
    if (!found.has(key)) found.set(key, edge.condition);
  }
  return found;
}

/** Marks each edge `only` (added in V2, removed in V1) or `changed` (its condition), comparing
 * with the other version through `map` (the planner's matching of steps). */
function markEdges(edges, otherEdges, map, only) {
  const other = conditionsByPair(otherEdges);
  return edges.map((edge) => {
    const from = map(edge.from);
    const to = map(edge.to);
    const key = `${from}\u0000${to}`;
    let mark = null;
    if (from === undefined || to === undefined || !other.has(key)) mark = only;
    else if ((other.get(key) || null) !== edge.condition) mark = "changed";
    return { ...edge, mark };
  });
}

function node(step, extra) {
  return {
    id: step.id,
    name: step.name,
    checkpoint: Boolean(step.is_checkpoint),
    action: Boolean(step.performs_action),
    collects: collects(step),
    warnings: [],
    ...extra,
  };
}

/** An anchor's fields on the way: as listed, or rebuilt from the map's `field_sets` where the
 * map stores each distinct set once (the anchor's `field_set`: a change from the set before it,
 * back to the last full listing). */
export function fieldsOnTheWay(anchor, fieldSets = []) {
  if (Array.isArray(anchor.fields_on_the_way)) return anchor.fields_on_the_way;
  const index = anchor.field_set;
  if (index === null || index === undefined || !fieldSets[index]) return [];
  let start = index;
  while (start > 0 && !fieldSets[start].keyframe) start -= 1;
  const fields = new Set(fieldSets[start].added);
  for (const change of fieldSets.slice(start + 1, index + 1)) {
    for (const name of change.added) fields.add(name);
    for (const name of change.dropped || []) fields.delete(name);
  }
  return [...fields].sort();
}

export function reviewModel(plan, planned, oldDoc, newDoc) {
  const tmap = { ...planned, anchors: planned.anchors.map((a) => ({ ...a, fields_on_the_way: fieldsOnTheWay(a, planned.field_sets) })) };
  const summary = plan.summary;
  const oldSteps = stepsById(oldDoc);
  const newSteps = stepsById(newDoc);
  const byOld = new Map(tmap.anchors.map((a) => [a.from_step_id, a]));
  const byNew = new Map(tmap.anchors.map((a) => [a.to_step_id, a]));
  const byHash = new Map(tmap.anchors.map((a) => [a.anchor_content_hash, a]));
  const deleted = new Map(tmap.deleted_nodes.map((d) => [d.node_id, d]));
  const edited = new Set([...(tmap.edited_steps || []), ...tmap.anchors.filter((a) => a.edited).map((a) => a.to_step_id)]);
  const ambiguousOld = new Set(tmap.ambiguous_steps.flatMap((a) => a.from_step_ids));
  const ambiguousNew = new Set(tmap.ambiguous_steps.flatMap((a) => a.to_step_ids));
  const forks = new Set(tmap.changed_forks || []);
  const sessionsAt = (anchor) => summary.sessions_by_anchor[anchor.anchor_content_hash] ?? 0;

  const warnings = sortWarnings(summary.warnings).map((warning, index) => ({
    ...warning,
    index,
    targets: warningTargets(warning, oldSteps, newSteps, tmap.ambiguous_steps),
  }));
  // A checkpoint or action the customers are routed to: moved when both versions have it.
  const moved = new Set(
    warnings
      .filter((w) => w.code.startsWith("routed_to_step:"))
      .flatMap((w) => w.targets)
      .filter((t) => t.version === 2 && byNew.has(t.stepId))
      .map((t) => t.stepId),
  );

  const oldNodes = oldDoc.steps.map((step) => {
    const anchor = byOld.get(step.id);
    const gone = deleted.get(step.id);
    const marks = [];
    if (gone) marks.push("deleted");
    if (ambiguousOld.has(step.id)) marks.push("ambiguous");
    if (anchor && moved.has(anchor.to_step_id)) marks.push("moved");
    if (anchor && edited.has(anchor.to_step_id)) marks.push("edited");
    const nearest = gone && gone.nearest_anchor ? byHash.get(gone.nearest_anchor) : null;
    return node(step, {
      classification: anchor ? anchor.migration_scenario : gone ? "deleted" : "unmatched",
      marks,
      anchor,
      deleted: gone || null,
      sessions: anchor ? sessionsAt(anchor) : summary.sessions_on_deleted_steps[step.id] ?? 0,
      counterpart: anchor ? anchor.to_step_id : nearest ? nearest.to_step_id : null,
    });
  });
  const newNodes = newDoc.steps.map((step) => {
    const anchor = byNew.get(step.id);
    const marks = [];
    if (!anchor && !ambiguousNew.has(step.id)) marks.push("inserted");
    if (ambiguousNew.has(step.id)) marks.push("ambiguous");
    if (moved.has(step.id)) marks.push("moved");
    if (edited.has(step.id)) marks.push("edited");
    if (forks.has(step.id)) marks.push("fork");
    return node(step, {
      classification: anchor ? anchor.migration_scenario : ambiguousNew.has(step.id) ? "unmatched" : "inserted",
      marks,
      anchor,
      deleted: null,
      sessions: anchor ? sessionsAt(anchor) : 0,
      counterpart: anchor ? anchor.from_step_id : null,
    });
  });

  const nodesOf = { 1: new Map(oldNodes.map((n) => [n.id, n])), 2: new Map(newNodes.map((n) => [n.id, n])) };
  for (const warning of warnings) {
    for (const target of warning.targets) nodesOf[target.version].get(target.stepId)?.warnings.push(warning);
  }
  const oldEdges = edgesOf(oldDoc);
  const newEdges = edgesOf(newDoc);
  return {
    plan,
    warnings,
    old: {
      version: plan.from_version,
      entry: oldDoc.entry_step_id,
      nodes: oldNodes,
      edges: markEdges(oldEdges, newEdges, (id) => byOld.get(id)?.to_step_id, "removed"),
      byId: nodesOf[1],
    },
    new: {
      version: plan.to_version,
      entry: newDoc.entry_step_id,
      nodes: newNodes,
      edges: markEdges(newEdges, oldEdges, (id) => byNew.get(id)?.from_step_id, "added"),
      byId: nodesOf[2],
    },
    anchors: [...tmap.anchors].sort((a, b) => sessionsAt(b) - sessionsAt(a) || a.anchor_name.localeCompare(b.anchor_name)),
    sessionsAt,
  };
}
