"""Work units sized from the deploy's census (domain/marking.py): every shard's ranges cover every
hex digit in order; a shard has one range per `unit_sessions` of its sessions, within [1,
max_ranges]; no range is cut off with nobody after it; the layout survives its stored form."""

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenario_migration.domain.marking import HEX, MarkingLayout, Unit, even_shares

SHARDS = 8
occupancies = st.dictionaries(
    st.tuples(st.integers(0, SHARDS - 1), st.sampled_from(HEX)), st.integers(0, 5_000), max_size=60
)


def _digits(unit: Unit) -> set[str]:
    return set(HEX[HEX.index(unit.first) : HEX.index(unit.last) + 1])


def _in(unit: Unit, occupancy: dict[tuple[int, str], int]) -> int:
    return sum(occupancy.get((unit.shard, digit), 0) for digit in _digits(unit))


@given(occupancies, st.sampled_from([1, 2, 4, 8, 16]), st.integers(1, 3_000))
def test_a_sized_layout_covers_every_session_in_few_enough_units(
    occupancy: dict[tuple[int, str], int], max_ranges: int, unit_sessions: int
) -> None:
    layout = MarkingLayout.sized(occupancy, shards=SHARDS, max_ranges=max_ranges, unit_sessions=unit_sessions)
    units = layout.units
    assert len(units) == len(layout) and [layout.unit(i) for i in range(len(layout))] == list(units)
    for shard in range(SHARDS):
        mine = [unit for unit in units if unit.shard == shard]
        covered = [digit for unit in mine for digit in sorted(_digits(unit))]
        assert covered == list(HEX)  # every digit once, in order: nobody can fall between units
        total = sum(_in(unit, occupancy) for unit in mine)
        assert 1 <= len(mine) <= max(1, min(max_ranges, total // unit_sessions))
        if len(mine) > 1:  # a cut shard: no unit of it is empty at the census
            assert all(_in(unit, occupancy) for unit in mine)
    assert MarkingLayout.decode(layout.encode()) == layout


@given(st.integers(1, 16).filter(lambda n: 16 % n == 0), st.integers(1, 5_000))
def test_evenly_spread_sessions_get_all_their_ranges(max_ranges: int, per_digit: int) -> None:
    occupancy = {(shard, digit): per_digit for shard in range(SHARDS) for digit in HEX}
    unit_sessions = max(1, 16 * per_digit // max_ranges)
    layout = MarkingLayout.sized(occupancy, shards=SHARDS, max_ranges=max_ranges, unit_sessions=unit_sessions)
    assert layout == MarkingLayout.uniform(SHARDS, max_ranges)


def test_a_small_deployment_is_one_unit_per_shard_and_a_big_one_is_cut() -> None:
    five_steps = "03a7c"
    small = Counter({(shard, digit): 125 for shard in range(SHARDS) for digit in five_steps})
    assert len(MarkingLayout.sized(small, shards=SHARDS, max_ranges=8, unit_sessions=1200)) == SHARDS
    big = Counter({key: 100 * count for key, count in small.items()})  # 12,500 a shard
    cut = MarkingLayout.sized(big, shards=SHARDS, max_ranges=8, unit_sessions=1200)
    assert len(cut) == SHARDS * 5  # one range per crowded digit: a digit is never split
    assert cut.units[:5] == (  # cut after each crowded digit, the last one's range to the end
        Unit(0, "0", "0"),
        Unit(0, "1", "3"),
        Unit(0, "4", "7"),
        Unit(0, "8", "a"),
        Unit(0, "b", "f"),
    )


def test_the_uniform_layout_is_the_one_plans_were_deployed_with_before_sizing() -> None:
    layout = MarkingLayout.uniform(SHARDS, 8)
    assert len(layout) == 64
    assert layout.unit(9) == Unit(1, "2", "3")  # shard, part = divmod(index, ranges)
    assert layout.unit(63) == Unit(7, "e", "f")


@given(st.integers(0, 100_000), st.integers(1, 64), st.integers(0, 63))
def test_even_shares_keep_the_count_and_differ_by_one_at_most(count: int, shards: int, first: int) -> None:
    shares = even_shares(count, shards, first=first % shards)
    assert len(shares) == shards and sum(shares) == count and max(shares) - min(shares) <= 1
    if count % shards:  # the larger shares start at `first`, round the shards
        assert shares[first % shards] == max(shares)


def test_few_sessions_on_many_digits_do_not_all_crowd_the_lowest_shards() -> None:
    layout = MarkingLayout.spread(dict.fromkeys(HEX, 3), shards=SHARDS, max_ranges=16, unit_sessions=1)
    per_shard = [sum(unit.shard == shard for unit in layout.units) for shard in range(SHARDS)]
    assert max(per_shard) - min(per_shard) <= 1 and sum(per_shard) == 48  # 3 x 16 sessions, one unit each


@given(st.dictionaries(st.sampled_from(HEX), st.integers(0, 100_000), max_size=16), st.integers(1, 3_000))
def test_a_spread_layout_covers_every_digit_of_every_shard(
    by_digit: dict[str, int], unit_sessions: int
) -> None:
    layout = MarkingLayout.spread(by_digit, shards=SHARDS, max_ranges=8, unit_sessions=unit_sessions)
    for shard in range(SHARDS):
        covered = [d for unit in layout.units if unit.shard == shard for d in sorted(_digits(unit))]
        assert covered == list(HEX)
    total = sum(by_digit.values())
    assert SHARDS <= len(layout) <= SHARDS * max(1, min(8, -(-total // SHARDS) // unit_sessions))


@given(st.integers(0, 127), st.sampled_from(HEX), st.sampled_from(HEX))
def test_a_unit_travels_in_its_message_and_back(shard: int, one: str, other: str) -> None:
    unit = Unit(shard, min(one, other, key=HEX.index), max(one, other, key=HEX.index))
    assert Unit.decode(unit.encode()) == unit


def test_a_malformed_unit_or_layout_is_refused() -> None:
    for text in ("3:f0", "3:8", "3:8g", "x:08", "-1:08", "308"):
        with pytest.raises(ValueError, match="not a work unit"):
            Unit.decode(text)
    for text in ("", "7", "f,", "ff", "8f0"):
        with pytest.raises(ValueError, match="not a marking layout"):
            MarkingLayout.decode(text)
    for index in (-1, 64):
        with pytest.raises(IndexError):
            MarkingLayout.uniform(SHARDS, 8).unit(index)
