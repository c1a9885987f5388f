"""Canary deployments (issue 14): which sessions a deployment may migrate, a slice at a time.

A session's *bucket* is a stable hash of (tenant, plan, session) in [0, BUCKETS). A deployment at
`p` percent migrates the sessions whose bucket is below `p * BUCKETS / 100`; widening it to `q`
marks the next slice, buckets in [p, q) percent. Marking (which sessions a page claims) and JIT
(whether its version check may migrate a session) both ask `admits`, so the two can never
disagree on who is in the canary. Salting with the plan gives every deployment its own sample:
the customers of a small first slice are not the same ones every time. Pure.

The guard judges a canary by the JIT outcomes inside it: blocked, kept and condition errors
against every final outcome (and condition error), once there are enough of them.
"""

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict

BUCKETS = 10_000  # a percent is 100 buckets: slices are exact to 0.01 %
FULL = 100  # percent: the whole deployment
NewSessions = Literal["v1", "v2"]


def bucket(tenant: str, plan_id: str, session_id: str) -> int:
    """The session's bucket for this plan, 0 to BUCKETS - 1. SHA-256 rather than Python's
    `hash` (salted per process) or CRC-32 (the index shard already uses it on the session id
    alone, so slices would correlate with shards): the same on every machine and release."""
    key = "\x1f".join((tenant, plan_id, session_id)).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % BUCKETS


def in_slice(value: int, from_percent: int, to_percent: int) -> bool:
    """Whether a bucket lies in the slice [from_percent, to_percent)."""
    return from_percent * BUCKETS // FULL <= value < to_percent * BUCKETS // FULL


def admits(tenant: str, plan_id: str, session_id: str, percent: int) -> bool:
    """Whether a deployment at `percent` may migrate this session (every slice so far)."""
    return percent >= FULL or in_slice(bucket(tenant, plan_id, session_id), 0, percent)


class CanarySlice(BaseModel):
    """One slice of a deployment: slice 0 is the first deployment's, each widening adds one."""

    model_config = ConfigDict(frozen=True)

    from_percent: int
    to_percent: int
    at: str
    by: str | None = None


class GuardFigures(BaseModel):
    """What the guard judged: the canary's outcomes so far and the share of troubled ones."""

    migrations_applied: int
    checkpoint_blocks: int
    sessions_kept: int
    condition_errors: int
    judged: int  # outcomes counted: the four above
    share: float  # (blocked + kept + condition errors) / judged; 0 when nothing was judged
    threshold: float
    min_migrations: int
    tripped: bool


def judge(counts: dict[str, int], threshold: float, min_migrations: int) -> GuardFigures:
    """The guard's verdict on a canary's counters: tripped when at least `min_migrations`
    outcomes were judged and the troubled share is above `threshold`. A condition error is an
    attempt (the session is tried again), so it counts both as judged and as troubled."""
    applied, blocked = counts.get("migrations_applied", 0), counts.get("checkpoint_blocks", 0)
    kept, errors = counts.get("sessions_kept", 0), counts.get("condition_errors", 0)
    judged = applied + blocked + kept + errors
    share = (blocked + kept + errors) / judged if judged else 0.0
    return GuardFigures(
        migrations_applied=applied,
        checkpoint_blocks=blocked,
        sessions_kept=kept,
        condition_errors=errors,
        judged=judged,
        share=round(share, 4),
        threshold=threshold,
        min_migrations=min_migrations,
        tripped=judged >= min_migrations and share > threshold,
    )
