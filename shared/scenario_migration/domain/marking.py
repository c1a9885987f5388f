"""How a deployment's marking is cut into work units (issue 12: marking cost follows the live
sessions, not a fixed number of units).

A work unit is one shard of the old version's position index, over a range of step hashes (by
their first hex digit); each unit is walked page by page, one SQS message per page. Each page
costs a constant (a Query, a ledger, a commit, a message) besides its markers, so a unit should
hold enough sessions to fill its pages; more units only buy parallelism, which a big deployment
needs and a small one does not. So a deploy sizes its layout from the plan-time census (no read
of the index before its transaction): each shard is cut into one range per `unit_sessions` live
sessions in it (at least one, at most `max_ranges`), at hex digits that share its sessions out
evenly. Every shard's ranges cover every digit, so a session that moves or starts after the
census is still in some unit; the census only decides how finely.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Unit:
    """The old version's live sessions in one index shard whose step hashes start with a hex
    digit in [first, last]."""

    shard: int
    first: str
    last: str

    def encode(self) -> str:
        """As a `mark` message carries it: "<shard>:<first><last>"."""
        return f"{self.shard}:{self.first}{self.last}"

    @classmethod
    def decode(cls, text: str) -> "Unit":
        shard, _, digits = text.partition(":")
        first, last = (HEX.find(digit) for digit in digits) if len(digits) == 2 else (-1, -1)
        if not shard.isdigit() or min(first, last) < 0 or first > last:
            raise ValueError(f"not a work unit: {text!r}")
        return cls(int(shard), digits[0], digits[1])


@dataclass(frozen=True)
class MarkingLayout:
    """A deployment's work units: for each shard, the last hex digit of each of its ranges in
    order (the last one is always "f"). Unit indexes run shard by shard, range by range."""

    ends: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.ends or not all(map(_is_cut, self.ends)):
            raise ValueError(f"not a marking layout: {self.ends!r}")

    @classmethod
    def uniform(cls, shards: int, ranges: int) -> "MarkingLayout":
        """`ranges` equal ranges per shard (a divisor of 16): the layout of every plan deployed
        before layouts were sized, read back for their messages still in flight."""
        width = len(HEX) // ranges
        return cls((HEX[width - 1 :: width],) * shards)

    @classmethod
    def sized(
        cls, occupancy: Mapping[tuple[int, str], int], *, shards: int, max_ranges: int, unit_sessions: int
    ) -> "MarkingLayout":
        """The layout for live sessions counted by (shard, first hex digit of their step hash)."""
        ends = []
        for shard in range(shards):
            counts = [occupancy.get((shard, digit), 0) for digit in HEX]
            ranges = min(max_ranges, max(1, sum(counts) // unit_sessions))
            ends.append(_cuts(counts, ranges))
        return cls(tuple(ends))

    @classmethod
    def spread(
        cls, by_digit: Mapping[str, int], *, shards: int, max_ranges: int, unit_sessions: int
    ) -> "MarkingLayout":
        """The layout for sessions counted by the first hex digit of their step hash, as many in
        each shard (session ids hash evenly over the shards)."""
        occupancy = {
            (shard, digit): share
            for digit, count in by_digit.items()
            for shard, share in enumerate(even_shares(count, shards, first=HEX.index(digit)))
        }
        return cls.sized(occupancy, shards=shards, max_ranges=max_ranges, unit_sessions=unit_sessions)

    @classmethod
    def decode(cls, text: str) -> "MarkingLayout":
        return cls(tuple(text.split(",")))

    def encode(self) -> str:
        """As stored on the plan item: the shards' ends joined by commas (at most 135 bytes)."""
        return ",".join(self.ends)

    @cached_property
    def units(self) -> tuple[Unit, ...]:
        found = []
        for shard, ends in enumerate(self.ends):
            starts = ["0", *(HEX[HEX.index(end) + 1] for end in ends[:-1])]
            found += [Unit(shard, first, last) for first, last in zip(starts, ends, strict=True)]
        return tuple(found)

    def __len__(self) -> int:
        return sum(map(len, self.ends))

    def unit(self, index: int) -> Unit:
        if not 0 <= index < len(self):
            raise IndexError(f"no work unit {index} in a layout of {len(self)}")
        return self.units[index]


def even_shares(count: int, shards: int, *, first: int = 0) -> list[int]:
    """`count` shared over `shards` as evenly as can be (shares differ by at most one), the
    larger shares from shard `first` on, round the shards (so that many small counts do not
    all crowd the lowest shards)."""
    base, extra = divmod(count, shards)
    return [base + ((shard - first) % shards < extra) for shard in range(shards)]


def _is_cut(ends: str) -> bool:
    """Strictly increasing hex digits ending with "f"."""
    positions = [HEX.find(digit) for digit in ends]
    return bool(ends) and ends[-1] == "f" and -1 not in positions and positions == sorted(set(positions))


def _cuts(counts: list[int], ranges: int) -> str:
    """Ends of at most `ranges` ranges over the 16 digits, each cut where the running count
    first reaches the next share of the total; no range is left with nobody after it (a crowded
    digit cannot be split: its step hashes share their first digit)."""
    total, running, share, ends = sum(counts), 0, 1, []
    for digit, count in zip(HEX[:-1], counts[:-1], strict=True):
        running += count
        if share < ranges and running * ranges >= share * total and 0 < running < total:
            ends.append(digit)
            while share < ranges and running * ranges >= share * total:
                share += 1
    return "".join(ends) + "f"
