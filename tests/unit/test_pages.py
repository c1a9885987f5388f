"""Pages of a plan (issue 12 §4): read one after the other from the first, they give back every
entry once, in order; each holds at most `limit` entries and at most `budget` bytes of JSON
(unless a single entry is larger: never split); a map page lists each anchor's fields."""

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_migration.domain.plan import (
    MAP_LISTS,
    TransformationMap,
    json_size,
    map_page,
    map_totals,
    map_window,
    page_of,
)
from tests.unit.test_planner_properties import plan, version_pairs

FAST = settings(max_examples=80, deadline=None)


def read_all(entries: list[Any], limit: int, budget: int) -> list[list[Any]]:
    pages, start = [], 0
    while True:
        found = page_of(entries[start:], start, limit, budget, len(entries))
        pages.append(found.entries)
        if found.next_start is None:
            return pages
        assert found.next_start == start + len(found.entries) > start
        start = found.next_start


@FAST
@given(st.lists(st.text(max_size=40)), st.integers(1, 6), st.integers(1, 120))
def test_pages_give_back_every_entry_once_within_their_bounds(
    entries: list[str], limit: int, budget: int
) -> None:
    pages = read_all(entries, limit, budget)
    assert [e for page in pages for e in page] == entries
    for page in pages:
        assert len(page) <= limit
        assert len(page) == 1 or sum(json_size(e) for e in page) <= budget
    assert all(pages) or entries == []  # no empty page but the only one of an empty list


@FAST
@given(version_pairs(), st.integers(1, 7), st.integers(50, 3000))
def test_a_map_read_page_by_page_is_the_map(pair: tuple, limit: int, budget: int) -> None:
    """Pages of the stored map (JSON, as the store keeps it) concatenate to the planner's map,
    anchors with their fields on the way and no field-set reference."""
    tmap = plan(*pair).transformation_map
    stored = json.loads(tmap.model_dump_json())
    totals, start, read = map_totals(stored), 0, {name: [] for name in MAP_LISTS}
    while True:
        window = TransformationMap.model_validate(
            {**map_window(stored, start, limit), "field_sets": stored["field_sets"]}
        )
        page, next_start = map_page(window, totals, start, limit, budget)
        page_entries = [entry for name in MAP_LISTS for entry in getattr(page, name)]
        assert 1 <= len(page_entries) <= limit or totals.entries == 0
        for name in MAP_LISTS:
            read[name] += getattr(page, name)
        if next_start is None:
            break
        start = next_start
    expected = [a.model_copy(update={"field_set": None}) for a in tmap.with_fields()]
    assert read["anchors"] == expected
    for name in MAP_LISTS[1:]:
        assert read[name] == getattr(tmap, name)
    assert page.totals == totals and totals.anchors == len(tmap.anchors)
