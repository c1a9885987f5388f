"""The canary's pure parts: the bucket function (stable, uniform enough, slices disjoint and
nested), the guard's verdict, and the sample's helpers (allocation, a random point between ids)."""

import random
import subprocess
import sys
from collections import Counter
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_migration.domain.canary import BUCKETS, FULL, admits, bucket, in_slice, judge
from scenario_migration.domain.sampling import ID_ALPHABET, allocate, between

FAST = settings(max_examples=200, deadline=None)
IDS = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=40)
PERCENTS = st.integers(min_value=0, max_value=FULL)


@FAST
@given(IDS, IDS, IDS)
def test_a_bucket_is_in_range_and_stable(tenant: str, plan_id: str, session_id: str) -> None:
    value = bucket(tenant, plan_id, session_id)
    assert 0 <= value < BUCKETS
    assert bucket(tenant, plan_id, session_id) == value


def test_a_bucket_is_the_same_in_another_process() -> None:
    """Not Python's salted `hash`: marking and JIT run in different processes (and releases)."""
    code = "from scenario_migration.domain.canary import bucket; print(bucket('acme', 'p-1', 's-42'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="shared"
    ).stdout
    assert int(out) == bucket("acme", "p-1", "s-42")


def test_buckets_are_uniform_enough() -> None:
    """100,000 sequential ids: each percent holds 1,000 +- 15 % of them, and a 5 % canary takes
    5 % +- 0.3 points (a chi-square over the 100 percents stays far from a skewed hash's)."""
    ids = [f"s{i:06d}" for i in range(100_000)]
    per_percent = Counter(bucket("acme", "plan", sid) * FULL // BUCKETS for sid in ids)
    assert len(per_percent) == FULL
    assert all(850 <= count <= 1150 for count in per_percent.values())
    chi_square = sum((count - 1000) ** 2 / 1000 for count in per_percent.values())
    assert chi_square < 200  # 99 degrees of freedom: ~99 expected, 135 at p = 0.01
    share = sum(admits("acme", "plan", sid, 5) for sid in ids) / len(ids)
    assert abs(share - 0.05) < 0.003


def test_each_plan_draws_its_own_canary() -> None:
    """Salted by the plan: the first 5 % of two deployments are mostly different customers."""
    ids = [f"s{i:05d}" for i in range(20_000)]
    first = {sid for sid in ids if admits("acme", "plan-1", sid, 5)}
    second = {sid for sid in ids if admits("acme", "plan-2", sid, 5)}
    assert len(first & second) < len(first) * 0.15


@FAST
@given(st.lists(PERCENTS, min_size=2, max_size=6), IDS)
def test_slices_are_disjoint_and_cover_the_canary(cuts: list[int], session_id: str) -> None:
    """Widenings 0 -> a -> b -> ...: a session is in exactly one slice below the last percent,
    in none above it, and that matches admits(last percent)."""
    ladder = sorted(set([0, *cuts]))
    value = bucket("acme", "plan", session_id)
    slices = [in_slice(value, low, high) for low, high in pairwise(ladder)]
    assert sum(slices) == (1 if in_slice(value, 0, ladder[-1]) else 0)
    assert any(slices) == (admits("acme", "plan", session_id, ladder[-1]) if ladder[-1] else False)


@FAST
@given(PERCENTS, PERCENTS, IDS)
def test_canaries_are_nested(low: int, high: int, session_id: str) -> None:
    """Whoever is in a p % canary is in every wider one (widening never drops a session)."""
    low, high = sorted((low, high))
    if low and admits("acme", "plan", session_id, low):
        assert admits("acme", "plan", session_id, high)


def test_full_admits_everyone() -> None:
    assert all(admits("t", "p", f"s{i}", FULL) for i in range(1000))
    assert in_slice(BUCKETS - 1, 0, FULL) and not in_slice(BUCKETS, 0, FULL)


def test_the_guard_judges_only_enough_outcomes() -> None:
    calm = {"migrations_applied": 16, "checkpoint_blocks": 2, "sessions_kept": 1, "condition_errors": 1}
    figures = judge(calm, 0.2, 20)
    assert (figures.judged, figures.share, figures.tripped) == (20, 0.2, False)  # not above
    assert judge({**calm, "sessions_kept": 2}, 0.2, 20).tripped  # 4/21 -> no; 5/21 = 0.238 -> yes
    assert not judge({**calm, "sessions_kept": 2}, 0.2, 22).tripped  # 21 outcomes < 22: not judged
    assert not judge({}, 0.0, 0).tripped  # nothing judged: nothing to refuse
    assert judge({"checkpoint_blocks": 1}, 0.0, 0).tripped


def test_allocation_adds_up_and_follows_the_weights() -> None:
    assert allocate([10, 30, 60], 10) == [1, 3, 6]
    assert sum(allocate([1, 1, 1], 10)) == 10
    assert allocate([0, 0], 3) in ([2, 1], [1, 2])
    assert allocate([5, 0, 5], 4) == [2, 0, 2]
    assert allocate([], 5) == [] and allocate([3], 0) == [0]


@FAST
@given(IDS, IDS, st.integers(min_value=0, max_value=2**32))
def test_a_point_between_two_ids_lies_between_them(a: str, b: str, seed: int) -> None:
    low, high = sorted((a, b))
    assert low <= between(low, high, random.Random(seed)) <= high
    assert low <= between(low, high, random.Random(seed), alphabet="0123") <= high


def test_points_between_sequential_ids_spread_over_them() -> None:
    """ids s000000..s099999: points fall all over the range, not at its ends."""
    rng = random.Random(7)
    window = [f"s{i:06d}" for i in range(21)]  # the characters the ids use, as a window shows them
    points = [between("s000000", "s099999", rng, alphabet="".join(window)) for _ in range(1000)]
    tenths = Counter(int(p[2]) for p in points if p[1] == "0" and p[2].isdigit())
    assert len(tenths) == 10 and min(tenths.values()) > 50
