"""Planning as one call: the diff of two versions (planner.py) and its summary (summary.py)."""

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from scenario_migration.domain.graph import ScenarioGraph
from scenario_migration.domain.plan import PlanResult
from scenario_migration.domain.planner import ScenarioDiff
from scenario_migration.domain.scenario import Scenario
from scenario_migration.domain.summary import summarize


def plan_migration(old: Scenario, new: Scenario, sessions_at: Mapping[str, int] | None = None) -> PlanResult:
    """Diff two versions. `sessions_at`: live sessions per old-version step id, at plan time."""
    with _collector_paused():
        diff = ScenarioDiff.build(ScenarioGraph(old), ScenarioGraph(new))
        tmap = diff.transformation_map()
        return PlanResult(transformation_map=tmap, summary=summarize(diff, tmap, sessions_at or {}))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Planning allocates a few objects per step and frees them by reference counting; the
    cycle collector has nothing to find, yet on a large scenario its full passes over every
    live object (both versions included) cost as much as the diff itself, and whether one runs
    depends on the heap, not on the scenario (bench/planner.py). Paused for the call only, and
    only re-enabled if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
