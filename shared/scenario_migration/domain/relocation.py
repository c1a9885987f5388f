"""Where sessions on a deleted step go: the nearest anchor, downstream preferred (SPEC 3).

One multi-source breadth-first search from all anchors at once (over reversed transitions for
"downstream", forward ones for "upstream"), so the cost is linear whatever the number of
deleted steps. Ties between equally near anchors go to the earlier one in the new version.
"""

from collections import deque
from collections.abc import Callable, Iterable

from scenario_migration.domain.graph import ScenarioGraph


def nearest_anchors(
    old: ScenarioGraph, anchors: list[int], rank: Callable[[int], int]
) -> dict[int, tuple[int, str]]:
    """For every old step that is not an anchor: (anchor old index, "downstream"|"upstream")."""
    anchor_set = set(anchors)
    others = [v for v in range(len(old)) if v not in anchor_set]
    if not others:
        return {}
    downstream = _bfs(anchors, rank, lambda v: (e.source for e in old.in_edges[v]))
    found = {v: (downstream[v], "downstream") for v in others if v in downstream}
    if len(found) < len(others):  # the upstream search only when some step needs it
        upstream = _bfs(anchors, rank, lambda v: (e.target for e in old.out_edges[v]))
        found |= {v: (upstream[v], "upstream") for v in others if v not in found and v in upstream}
    return found


def _bfs(
    sources: list[int], rank: Callable[[int], int], neighbours: Callable[[int], Iterable[int]]
) -> dict[int, int]:
    owner: dict[int, int] = {}
    queue: deque[int] = deque()
    for source in sorted(sources, key=rank):
        owner[source] = source
        queue.append(source)
    while queue:
        v = queue.popleft()
        for u in neighbours(v):
            if u not in owner:
                owner[u] = owner[v]
                queue.append(u)
    return owner
