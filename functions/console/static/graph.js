// One version as a graph: dagre (the vendored layout library) places the steps and routes the
// edges; the drawing is plain SVG, one element per step and per transition, so every step and
// edge is a DOM node (keyboard focusable, with its details in a tooltip).
import { h, replace, svg } from "./dom.js";

const NODE_HEIGHT = 64;
const CHAR = 7.6; // px per character of a step's name (13px sans); small text below is 11px
const SMALL = 6.4;
const MIN_WIDTH = 150;
const MAX_WIDTH = 300;
export const MAX_DRAWN = 400; // beyond this a drawing stops helping; the tables list everything

const TAGS = {
  inserted: "NEW",
  moved: "MOVED",
  edited: "EDITED",
  deleted: "DELETED",
  fork: "CHANGED FORK",
  ambiguous: "AMBIGUOUS",
};
export const CLASS_LABELS = {
  clean_graft: "clean graft",
  gap_fill: "gap fill",
  re_route: "re-route",
  inserted: "new step",
  deleted: "deleted",
  unmatched: "not matched",
};

let dagre = null;

async function loadLayout() {
  dagre ??= await import("./dagre.esm.js");
  return dagre;
}

function truncate(text, size) {
  return text.length > size ? `${text.slice(0, size - 1)}…` : text;
}

function metaLine(node) {
  const parts = [node.id];
  if (node.checkpoint) parts.push("checkpoint");
  if (node.action) parts.push("action");
  if (node.collects.length) parts.push(`asks ${node.collects.join(", ")}`);
  return parts.join(" · ");
}

function tagLine(node) {
  const tags = node.marks.map((mark) => TAGS[mark]);
  if (node.deleted && node.deleted.nearest_anchor_name) tags.push(`→ ${node.deleted.nearest_anchor_name}`);
  return tags.join(" · ");
}

function widthOf(node) {
  const text = Math.max(
    node.name.length * CHAR,
    metaLine(node).length * SMALL,
    tagLine(node).length * SMALL,
  );
  return Math.round(Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, text + 56)));
}

function describe(node) {
  const lines = [`${node.name} (${node.id}): ${CLASS_LABELS[node.classification] || node.classification}`];
  if (node.marks.length) lines.push(`marked: ${node.marks.join(", ")}`);
  if (node.sessions) lines.push(`${node.sessions} live session(s) at plan time`);
  if (node.deleted) {
    lines.push(
      node.deleted.nearest_anchor_name
        ? `sessions here move to '${node.deleted.nearest_anchor_name}' (${node.deleted.relocation})`
        : "no step of the new version is near it",
    );
  }
  for (const warning of node.warnings) lines.push(`${warning.severity}: ${warning.message}`);
  return lines.join("\n");
}

function edgeLabel(edge, exits) {
  const text = edge.condition || (exits > 1 ? "otherwise" : "");
  if (!text) return "";
  return exits > 1 ? `${text} · p${edge.priority}` : text;
}

function pathOf(points) {
  const [first, ...rest] = points;
  let d = `M${first.x},${first.y}`;
  for (let i = 0; i < rest.length - 1; i += 1) {
    const mid = { x: (rest[i].x + rest[i + 1].x) / 2, y: (rest[i].y + rest[i + 1].y) / 2 };
    d += ` Q${rest[i].x},${rest[i].y} ${mid.x},${mid.y}`;
  }
  const last = rest[rest.length - 1];
  return `${d} L${last.x},${last.y}`;
}

function markers(prefix) {
  return svg(
    "defs",
    {},
    ["plain", "added", "removed", "changed"].map((kind) =>
      svg(
        "marker",
        { id: `${prefix}-${kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        svg("path", { d: "M0,0 L10,5 L0,10 z", class: `arrow arrow-${kind}` }),
      ),
    ),
  );
}

function drawEdge(g, key, prefix) {
  const layout = g.edge(key);
  const edge = layout.edge;
  const kind = edge.mark || "plain";
  const title = `${edge.from} → ${edge.to}${edge.condition ? ` when ${edge.condition}` : ""}${edge.mark ? ` (${edge.mark})` : ""}`;
  const group = svg(
    "g",
    { class: ["edge", edge.mark && `edge-${edge.mark}`], dataset: { from: edge.from, to: edge.to, index: edge.index, mark: edge.mark || "" } },
    svg("title", {}, title),
    svg("path", { class: "edge-line", d: pathOf(layout.points), "marker-end": `url(#${prefix}-${kind})` }),
  );
  if (layout.label) {
    const width = Math.min(layout.label.length * SMALL + 10, 240);
    group.append(
      svg(
        "g",
        { class: "edge-label", transform: `translate(${layout.x - width / 2},${layout.y - 9})` },
        svg("rect", { width, height: 18, rx: 4 }),
        svg("text", { x: width / 2, y: 13, "text-anchor": "middle" }, truncate(layout.label, 38)),
      ),
    );
  }
  return group;
}

function drawNode(g, node, entry, onSelect) {
  const box = g.node(node.id);
  const width = box.width;
  const tags = tagLine(node);
  const select = () => onSelect(node);
  const group = svg(
    "g",
    {
      class: ["step", `cls-${node.classification}`, ...node.marks.map((m) => `mark-${m}`), node.id === entry && "entry"],
      transform: `translate(${box.x - width / 2},${box.y - NODE_HEIGHT / 2})`,
      tabindex: 0,
      role: "button",
      "aria-label": describe(node).replace(/\n/g, "; "),
      dataset: { stepId: node.id, classification: node.classification, marks: node.marks.join(" "), sessions: node.sessions },
      onclick: select,
      onkeydown: (event) => (event.key === "Enter" || event.key === " ") && (event.preventDefault(), select()),
    },
    svg("title", {}, describe(node)),
    svg("rect", { class: "box", width, height: NODE_HEIGHT, rx: 8 }),
    svg("text", { class: "name", x: 10, y: 20 }, truncate(node.name, Math.floor((width - 50) / CHAR))),
    svg("text", { class: "meta", x: 10, y: 38 }, truncate(metaLine(node), Math.floor((width - 16) / SMALL))),
    tags ? svg("text", { class: "tags", x: 10, y: 55 }, truncate(tags, Math.floor((width - 40) / SMALL))) : null,
  );
  if (node.sessions) {
    const label = String(node.sessions);
    const pill = label.length * 7 + 14;
    group.append(
      svg(
        "g",
        { class: "sessions", transform: `translate(${width - pill - 6},-9)` },
        svg("rect", { width: pill, height: 18, rx: 9 }),
        svg("text", { x: pill / 2, y: 13, "text-anchor": "middle" }, label),
      ),
    );
  }
  if (node.warnings.length) {
    const worst = node.warnings[0].severity; // sorted: critical first
    group.append(
      svg(
        "g",
        { class: ["warn-badge", `sev-${worst}`], transform: `translate(${width - 14},${NODE_HEIGHT - 14})` },
        svg("circle", { r: 10 }),
        svg("text", { y: 4, "text-anchor": "middle" }, String(node.warnings.length)),
      ),
    );
  }
  return group;
}

/** Draws `side` (model.old or model.new) into `panel`; returns a handle to highlight steps. */
export async function drawGraph(panel, side, title, onSelect) {
  const heading = h("h3", {}, title, h("span", { class: "muted" }, ` · ${side.nodes.length} steps`));
  if (side.nodes.length > MAX_DRAWN) {
    replace(panel, heading, h("p", { class: "muted" }, `${side.nodes.length} steps are too many to draw here: the warnings and the policy table list every anchor.`));
    return null;
  }
  let layout;
  try {
    layout = await loadLayout();
  } catch {
    replace(panel, heading, h("p", { class: "error" }, "The graph library is missing: `make console` vendors it next to the page."));
    return null;
  }
  const g = new layout.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 30, ranksep: 58, edgesep: 16, marginx: 14, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of side.nodes) g.setNode(node.id, { width: widthOf(node), height: NODE_HEIGHT });
  const exits = new Map();
  for (const edge of side.edges) exits.set(edge.from, (exits.get(edge.from) || 0) + 1);
  side.edges.forEach((edge, i) => {
    const label = edgeLabel(edge, exits.get(edge.from));
    const size = label ? { width: Math.min(label.length * SMALL + 10, 240), height: 18 } : { width: 0, height: 0 };
    g.setEdge(edge.from, edge.to, { ...size, label, labelpos: "c", edge }, `e${i}`);
  });
  layout.layout(g);
  const { width, height } = g.graph();
  const prefix = `${panel.id}-m`;
  const drawing = svg(
    "svg",
    { class: "graph", width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": title },
    markers(prefix),
    svg("g", { class: "edges" }, g.edges().map((key) => drawEdge(g, key, prefix))),
    svg("g", { class: "steps" }, side.nodes.map((node) => drawNode(g, node, side.entry, onSelect))),
  );
  const scroller = h("div", { class: "graph-scroll fit" }, drawing);
  const toggle = h("button", { type: "button", class: "zoom" }, "actual size");
  toggle.addEventListener("click", () => {
    const fit = scroller.classList.toggle("fit");
    toggle.textContent = fit ? "actual size" : "fit width";
  });
  heading.append(toggle);
  replace(panel, heading, scroller);
  return {
    highlight(ids) {
      let first = null;
      for (const element of drawing.querySelectorAll("g.step")) {
        const on = ids.has(element.dataset.stepId);
        element.classList.toggle("selected", on);
        if (on && !first) first = element;
      }
      first?.scrollIntoView({ block: "nearest", inline: "nearest" });
    },
  };
}
