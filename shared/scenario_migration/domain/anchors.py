"""Anchors: steps present in both versions, matched by content hash (SPEC 3).

A hash that occurs once on each side is an anchor keyed by the hash itself. Copies of one step
(twins) are told apart by graph position: neighbour hashes, then the neighbours' positions, then
predecessors or successors alone, then being the entry. Twins still ambiguous after that are
not anchors (the plan gets a critical warning): a session must never jump to a twin. Nor are
they inserted or deleted steps: their content is in both versions, only its place is unclear.

A step whose content changed but that keeps its id and name is the same step, *edited* (SPEC 7):
editing a payment step's description must not make every paid customer look unpaid. Edited
steps are matched after the hashes, among the steps left, and are anchors keyed by their new
hash (their old hash is what the old version's position index holds).
"""

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from scenario_migration.domain.graph import ScenarioGraph


@dataclass
class AnchorMatching:
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (old index, new index)
    key_old: dict[int, str] = field(default_factory=dict)
    key_new: dict[int, str] = field(default_factory=dict)
    ambiguous: list[tuple[str, list[int], list[int]]] = field(default_factory=list)
    edited: set[int] = field(default_factory=set)  # new indices of edited steps

    def add(self, old: int, new: int, key: str) -> None:
        self.pairs.append((old, new))
        self.key_old[old] = key
        self.key_new[new] = key


Signature = Callable[[ScenarioGraph, int], str]


def match_anchors(old: ScenarioGraph, new: ScenarioGraph) -> AnchorMatching:
    by_hash_old = _group(old)
    by_hash_new = _group(new)
    matching = AnchorMatching()
    for content_hash in sorted(by_hash_old.keys() & by_hash_new.keys()):
        olds, news = by_hash_old[content_hash], by_hash_new[content_hash]
        if len(olds) == 1 and len(news) == 1:
            matching.add(olds[0], news[0], content_hash)
        else:
            _match_twins(old, new, content_hash, (olds, news), matching)
    _match_edited(old, new, matching)
    return matching


def _match_edited(old: ScenarioGraph, new: ScenarioGraph, matching: AnchorMatching) -> None:
    """Pair the steps left on both sides that keep their id and name (ambiguous twins excepted:
    their place is unclear, their content is not)."""
    twins_old = {o for _, olds, _ in matching.ambiguous for o in olds}
    twins_new = {n for _, _, news in matching.ambiguous for n in news}
    keys = set(matching.key_new.values())
    for n in range(len(new)):
        if n in matching.key_new or n in twins_new:
            continue
        o = old.index.get(new.ids[n])
        if o is None or o in matching.key_old or o in twins_old or old.step(o).name != new.step(n).name:
            continue
        key = _edited_key(new.hashes[n], old.hashes[o], keys)
        keys.add(key)
        matching.add(o, n, key)
        matching.edited.add(n)


def _edited_key(new_hash: str, old_hash: str, taken: set[str]) -> str:
    """The new hash, unless another anchor has that key already (the new content also exists as
    another step): then both hashes, and a number in the rare case that is taken too. Never the
    id, so that renaming steps changes no key."""
    if new_hash not in taken:
        return new_hash
    key, k = f"{new_hash}~{old_hash}", 1
    while key in taken:
        k += 1
        key = f"{new_hash}~{old_hash}~{k}"
    return key


def _group(graph: ScenarioGraph) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, content_hash in enumerate(graph.hashes):
        groups[content_hash].append(i)
    return groups


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:8]


def _neighbours(graph: ScenarioGraph, i: int) -> str:
    preds = sorted(graph.hashes[e.source] for e in graph.in_edges[i])
    succs = sorted(graph.hashes[e.target] for e in graph.out_edges[i])
    return _digest(graph.hashes[i], preds, succs)


def _two_hops(graph: ScenarioGraph, i: int) -> str:
    preds = sorted(_neighbours(graph, e.source) for e in graph.in_edges[i])
    succs = sorted(_neighbours(graph, e.target) for e in graph.out_edges[i])
    return _digest(_neighbours(graph, i), preds, succs)


def _predecessors(graph: ScenarioGraph, i: int) -> str:
    return _digest("in", sorted(graph.hashes[e.source] for e in graph.in_edges[i]))


def _successors(graph: ScenarioGraph, i: int) -> str:
    return _digest("out", sorted(graph.hashes[e.target] for e in graph.out_edges[i]))


def _entry(graph: ScenarioGraph, i: int) -> str:
    """Being the entry is a position too: the one copy customers start on."""
    return _digest("entry", i == graph.entry)


SIGNATURES: tuple[Signature, ...] = (_neighbours, _two_hops, _predecessors, _successors, _entry)


def _match_twins(
    old: ScenarioGraph,
    new: ScenarioGraph,
    content_hash: str,
    candidates: tuple[list[int], list[int]],
    matching: AnchorMatching,
) -> None:
    found: list[tuple[int, int, str]] = []
    olds, news = list(candidates[0]), list(candidates[1])
    for signature in SIGNATURES:
        if not olds or not news:
            break
        pairs = _unique_pairs(old, new, olds, news, signature)
        found += pairs
        # rebuilt, not list.remove per pair: a step copied n times would cost n^2
        paired_old, paired_new = {o for o, _, _ in pairs}, {n for _, n, _ in pairs}
        olds = [o for o in olds if o not in paired_old]
        news = [n for n in news if n not in paired_new]
    if len(olds) == 1 and len(news) == 1:  # the only candidates left on each side
        found.append((olds[0], news[0], "rest"))
        olds, news = [], []
    unique = len(found) == 1
    for o, n, sig in found:
        matching.add(o, n, content_hash if unique else f"{content_hash}~{sig}")
    if olds and news:
        matching.ambiguous.append((content_hash, olds, news))


def _unique_pairs(
    old: ScenarioGraph, new: ScenarioGraph, olds: list[int], news: list[int], signature: Signature
) -> list[tuple[int, int, str]]:
    sig_old: dict[str, list[int]] = defaultdict(list)
    sig_new: dict[str, list[int]] = defaultdict(list)
    for o in olds:
        sig_old[signature(old, o)].append(o)
    for n in news:
        sig_new[signature(new, n)].append(n)
    return [
        (sig_old[sig][0], sig_new[sig][0], sig)
        for sig in sorted(sig_old.keys() & sig_new.keys())
        if len(sig_old[sig]) == 1 and len(sig_new[sig]) == 1
    ]
