"""Planner benchmark (SPEC 3, 13): how the graph diff scales with scenario size.

Run: .venv/bin/python bench/planner.py [--sizes 100,1000,10000,50000] [--runs 5] [--shape menu|chain]

Scenarios (synthetic, seeded): V1 is made of flows, each a chain of 10-step sections with a
conditional side branch that rejoins further on, a conditional loop back to the section start,
two steps collecting fields, now and then a checkpoint with an action, and every third section
ending on a step whose content recurs all over the scenario (twins, told apart by position).
- `menu` (default): a main menu (the entry, which collects `topic`) leads to flows of about
  1,000 steps (one flow up to 1,999 steps, at most 50 flows), each flow looping back to the menu:
  the shape of a large real scenario, many journeys off one menu.
- `chain`: a single flow of `size` steps, the worst case for the plan's *output*: every anchor
  may be asked the fields of every step inserted anywhere before it (anchors x fields "field
  pairs", printed), which the plan stores once per distinct set, as changes along the map
  (`field_sets`, printed as "stored": linear);
- `chain-fields`: the same chain where every inserted step collects a field of its own.
V2 is V1 with 2 % of the steps deleted, as many inserted (a third collect a field, a sixth are
forks to a new dead end), 1 % of the conditions changed and 0.5 % of the steps given a new
branch (to a step at most 30 places away in the document); live sessions sit on 5 % of the V1
steps.

Printed per size: parse + validate (`parse_scenario` of both documents: pydantic, graph checks,
CEL compilation) and plan (`plan_migration` on already parsed scenarios; each run gets freshly
parsed models, untimed, so the content hashes the models cache are computed in every timed run,
as when the service plans), the median of the runs in wall-clock and in CPU time of this process
(the CPU time is the steadier figure on a shared machine), then the growth from 10,000 to 50,000
steps (5x the steps: linear is 5x), and the plan's stored sizes (the map and the summary as JSON,
and zlib-compressed as the store keeps them). Acceptance (issue 12), on every shape: 10,000 steps
plan in under 0.5 s of CPU, 50,000 in under 3 s, and 10k -> 50k grows less than 5.5x.
"""

import argparse
import gc
import random
import statistics
import sys
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from scenario_migration.config import get_settings
from scenario_migration.domain.planning import plan_migration
from scenario_migration.domain.scenario import Scenario, parse_scenario

SECTION = 10  # steps per section of a flow
FLOW = 1000  # steps per flow in the `menu` shape
MAX_FLOWS = 50  # the menu's exits (max_transitions_per_step in config/default.toml)
FIELDS = [f"field_{i}" for i in range(40)]
SHARED_NAMES = ["Confirm", "Anything else?", "Thank you"]  # repeated identical steps (twins)


def _step(step_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "name": name, "transitions": [], **extra}


def _go(to: str, condition: str | None = None, priority: int = 0) -> dict[str, Any]:
    return {"to_step_id": to, "condition": condition, "priority": priority}


def _condition(rnd: random.Random) -> str:
    name = rnd.choice(FIELDS[:-2])  # fields some V1 step collects
    return f"{name} > {rnd.randrange(20)}"


def _flow(flow: int, length: int, rnd: random.Random, after: str | None) -> list[dict[str, Any]]:
    """One chain of sections; its last step goes to `after` (None: it ends the conversation)."""
    ids = [f"f{flow}s{i}" for i in range(length)]
    steps = []
    for i, step_id in enumerate(ids):
        section, offset = divmod(i, SECTION)
        if offset == 9 and section % 3 == 0:
            steps.append(_step(step_id, SHARED_NAMES[section % len(SHARED_NAMES)]))  # twins
        elif offset in (2, 5):
            field = FIELDS[(i * 7 + section + flow) % (len(FIELDS) - 2)]
            steps.append(_step(step_id, f"Ask {field} {flow}.{i}", collects_fields=[field]))
        elif offset == 7 and section % 4 == 1:
            steps.append(_step(step_id, f"Pay {flow}.{i}", is_checkpoint=True, performs_action=True))
        else:
            steps.append(_step(step_id, f"Step {flow}.{i}", description=f"section {section}"))
    for i, step in enumerate(steps):
        offset = i % SECTION
        nxt = ids[i + 1] if i + 1 < length else after
        if nxt is not None:
            step["transitions"].append(_go(nxt))
        if offset == 3 and i + 4 < length:  # a side branch that rejoins the chain
            step["transitions"].insert(0, _go(ids[i + 4], _condition(rnd), 1))
        if offset == 8 and rnd.random() < 0.5:  # a loop back to the start of the section
            step["transitions"].insert(0, _go(ids[i - offset], _condition(rnd), 1))
        if step["transitions"]:
            step["transitions"][-1]["condition"] = None  # the last exit of a fork is the fallback
    return steps


def build_v1(size: int, seed: int, shape: str = "menu") -> dict[str, Any]:
    rnd = random.Random(seed)
    if shape == "chain":
        steps, entry = _flow(0, size, rnd, None), "f0s0"
    else:
        flows = max(1, min(MAX_FLOWS, size // FLOW))
        lengths = [(size - 1) // flows + (1 if f < (size - 1) % flows else 0) for f in range(flows)]
        menu = _step("menu", "Main menu", collects_fields=["topic"])
        menu["transitions"] = [_go(f"f{f}s0", f"topic == {f}") for f in range(flows)]
        menu["transitions"][-1]["condition"] = None
        steps, entry = [menu], "menu"
        for f, length in enumerate(lengths):
            steps += _flow(f, length, rnd, "menu")
    fields = [{"name": f, "type": "integer", "minimum": 0, "maximum": 100} for f in [*FIELDS, "topic"]]
    return {
        "id": "bench",
        "name": "Bench",
        "version": 1,
        "entry_step_id": entry,
        "fields": fields,
        "steps": steps,
    }


def build_v2(v1: dict[str, Any], seed: int, field_per_insert: bool = False) -> dict[str, Any]:
    """V1 with 2 % of steps deleted, as many inserted (a third collect a field, a sixth are
    forks to a new dead end), 1 % of conditions changed and 0.5 % of steps given a new branch
    to a nearby step. V2 has no more steps than V1, so both fit the same `max_steps` limit."""
    rnd = random.Random(seed)
    steps = [{**s, "transitions": [dict(t) for t in s["transitions"]]} for s in v1["steps"]]
    size = len(steps)
    steps = _delete(steps, v1["entry_step_id"], rnd, max(1, size // 50))
    inserted = _insert(steps, rnd, max(1, (size - len(steps)) * 6 // 7), field_per_insert)
    for step in rnd.sample(steps, max(1, size // 100)):
        conditional = [t for t in step["transitions"] if t["condition"]]
        if conditional:
            conditional[0]["condition"] = _condition(rnd)
    for i in rnd.sample(range(len(steps)), max(1, size // 200)):  # a new branch to a nearby step
        target = steps[min(len(steps) - 1, max(0, i + rnd.randint(-30, 30)))]["id"]
        if len(steps[i]["transitions"]) < MAX_FLOWS:
            steps[i]["transitions"].insert(0, _go(target, _condition(rnd), 9))
    return {**v1, "version": 2, "steps": steps + inserted}


def _delete(steps: list[dict[str, Any]], entry: str, rnd: random.Random, count: int) -> list[dict[str, Any]]:
    """Delete `count` steps; each transition into one goes where its fallback exit went."""
    by_id = {s["id"]: s for s in steps}
    deleted = set(rnd.sample([s["id"] for s in steps if s["transitions"] and s["id"] != entry], count))
    for step in steps:
        rewired: list[dict[str, Any]] = []
        for t in step["transitions"]:
            target = t["to_step_id"]
            while target in deleted:
                target = by_id[target]["transitions"][-1]["to_step_id"]
            if target != step["id"] and all(r["to_step_id"] != target for r in rewired):
                rewired.append({**t, "to_step_id": target})
        step["transitions"] = rewired
    return [s for s in steps if s["id"] not in deleted]


def _insert(
    steps: list[dict[str, Any]], rnd: random.Random, count: int, field_per_insert: bool
) -> list[dict[str, Any]]:
    """Insert `count` steps right after existing ones (plus a dead end per inserted fork)."""
    inserted = []
    for k, host in enumerate(rnd.sample([s for s in steps if s["transitions"]], count)):
        kind = k % 6
        extra = {"collects_fields": [rnd.choice(FIELDS)]} if kind in (0, 3) else {}
        if field_per_insert:
            extra = {"collects_fields": [f"g{k}"]}
        step = _step(f"n{k}", f"New {k}", **extra)
        step["transitions"] = host["transitions"]
        if kind == 1:  # an inserted fork: a new condition sends some customers to a new dead end
            step["transitions"] = [_go(f"r{k}", _condition(rnd), 5), *host["transitions"]]
            inserted.append(_step(f"r{k}", f"Rejected {k}"))
        host["transitions"] = [_go(step["id"])]
        inserted.append(step)
    return inserted


def sessions(v1: dict[str, Any], seed: int) -> dict[str, int]:
    rnd = random.Random(seed)
    occupied = rnd.sample(v1["steps"], max(1, len(v1["steps"]) // 20))
    return {s["id"]: rnd.randrange(1, 50) for s in occupied}


def _timed(fn: Any) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def bench(size: int, runs: int, shape: str) -> dict[str, Any]:
    limits = get_settings().limits
    v1_doc = build_v1(size, seed=size, shape="menu" if shape == "menu" else "chain")
    v2_doc = build_v2(v1_doc, seed=size + 1, field_per_insert=shape == "chain-fields")
    at = sessions(v1_doc, seed=size + 2)
    parse_wall, parse_cpu, plan_wall, plan_cpu = [], [], [], []
    result = None
    for _ in range(runs):
        wall, cpu, _ = _timed(lambda: (parse_scenario(v1_doc, limits), parse_scenario(v2_doc, limits)))
        parse_wall.append(wall)
        parse_cpu.append(cpu)
        old, new = Scenario.model_validate(v1_doc), Scenario.model_validate(v2_doc)  # fresh, untimed
        result = None  # the previous plan is garbage before the next run
        wall, cpu, result = _timed(lambda: plan_migration(old, new, at))  # noqa: B023 - used at once
        plan_wall.append(wall)
        plan_cpu.append(cpu)
    summary, tmap = result.summary, result.transformation_map
    return {
        "steps": (len(v1_doc["steps"]), len(v2_doc["steps"])),
        "parse": (statistics.median(parse_wall), statistics.median(parse_cpu)),
        "plan": (statistics.median(plan_wall), statistics.median(plan_cpu)),
        "anchors": "/".join(
            str(n)
            for n in (
                summary.total_anchors,
                summary.anchors_with_clean_graft,
                summary.anchors_with_gap_fill,
                summary.anchors_with_re_route,
            )
        ),
        "deleted": summary.nodes_deleted,
        "warnings": len(summary.warnings),
        "field_pairs": _field_pairs(tmap),
        "stored": sum(len(f.added) + len(f.dropped) for f in tmap.field_sets),
        "sizes": [_sizes(tmap.model_dump_json(exclude_none=True)), _sizes(summary.model_dump_json())],
    }


def _field_pairs(tmap: Any) -> int:
    """Anchors x fields, had every anchor listed its fields (each distinct set expanded once)."""
    sizes = {}
    for anchor in tmap.anchors:
        if anchor.field_set is not None and anchor.field_set not in sizes:
            sizes[anchor.field_set] = len(tmap.fields_of(anchor.field_set))
    return sum(sizes.get(a.field_set, 0) for a in tmap.anchors)


def _sizes(text: str) -> tuple[int, int]:
    """(JSON bytes, zlib bytes), as the store compresses it."""
    return len(text), len(zlib.compress(text.encode(), 6))


COLUMNS = (
    f"{'steps':>6} {'V2':>6} | {'parse+validate':^15} | {'plan_migration':^15} |"
    f" {'anchors all/clean/gap/re_route':>30} {'deleted':>7} {'warnings':>8} {'field pairs':>11}"
    f" {'stored':>7} | {'map MB json/zlib':>16} | {'summary MB json/zlib':>20}\n"
    f"{'':>6} {'':>6} | {'wall s':>7} {'cpu s':>7} | {'wall s':>7} {'cpu s':>7} |"
)
TARGETS = {10_000: 0.5, 50_000: 3.0}  # CPU seconds of plan_migration
GROWTH_TARGET = 5.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,50000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--shape", choices=("menu", "chain", "chain-fields", "all"), default="all")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    parse_scenario(build_v1(100, seed=0), get_settings().limits)  # imports (CEL) are not timed
    for shape in ("menu", "chain", "chain-fields") if args.shape == "all" else (args.shape,):
        run_shape(shape, sizes, args.runs)


def run_shape(shape: str, sizes: list[int], runs: int) -> None:
    print(f"\nshape {shape}; median of {runs} runs; wall = elapsed, cpu = this process's CPU time")
    print(COLUMNS)
    results = {}
    for size in sizes:
        r = results[size] = bench(size, runs, shape)
        (map_json, map_z), (sum_json, sum_z) = r["sizes"]
        print(
            f"{r['steps'][0]:>6} {r['steps'][1]:>6} | {r['parse'][0]:>7.3f} {r['parse'][1]:>7.3f} |"
            f" {r['plan'][0]:>7.3f} {r['plan'][1]:>7.3f} | {r['anchors']:>30} {r['deleted']:>7}"
            f" {r['warnings']:>8} {r['field_pairs']:>11} {r['stored']:>7} |"
            f" {map_json / 1e6:>7.2f} {map_z / 1e6:>8.2f} | {sum_json / 1e6:>9.2f} {sum_z / 1e6:>10.2f}"
        )
    verdicts = [results[n]["plan"][1] < limit for n, limit in TARGETS.items() if n in results]
    if 10_000 in results and 50_000 in results:
        small, large = results[10_000], results[50_000]
        wall, cpu = (large["plan"][i] / small["plan"][i] for i in (0, 1))
        parse = large["parse"][1] / small["parse"][1]
        stored = large["stored"] / max(1, small["stored"])
        print(
            f"growth 10k -> 50k steps (5x the steps): plan {wall:.2f}x wall, {cpu:.2f}x cpu;"
            f" parse+validate {parse:.2f}x cpu; stored field entries {stored:.2f}x"
        )
        verdicts.append(cpu < GROWTH_TARGET)
    targets = ", ".join(f"{n // 1000}k < {limit} s cpu" for n, limit in TARGETS.items())
    print(f"acceptance ({targets}, 10k -> 50k < {GROWTH_TARGET}x): {'PASS' if all(verdicts) else 'FAIL'}")


if __name__ == "__main__":
    main()
