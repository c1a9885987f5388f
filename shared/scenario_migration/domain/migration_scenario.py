"""The three ways a session migrates (SPEC 3): a type of its own, in a module of its own.

Plans name it per anchor, and sessions (markers, audit records) and counters name it too: JIT's
fast path reads sessions, so this module keeps it from loading the plan models (cold start,
services/jit.py). `domain/plan.py` imports it from here.
"""

from enum import StrEnum


class MigrationScenario(StrEnum):
    CLEAN_GRAFT = "clean_graft"
    GAP_FILL = "gap_fill"
    RE_ROUTE = "re_route"
