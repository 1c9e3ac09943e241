"""Property-based tests (hypothesis) of what reads text from outside: inventory lines, byte
ranges, cycle ids, hour specs, rain amounts and dates, and file names. Whatever the input,
the answer is a value or gridflow's own error, never another exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflow import inventory, paths
from gridflow.errors import GridflowError
from gridflow.gauges import readings
from gridflow.sources import timetable

FAST = settings(max_examples=150, deadline=None)
text_line = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=80)


@FAST
@given(st.lists(text_line, max_size=6).map("\n".join))
def test_any_text_parses_or_is_refused_as_an_inventory_error(text):
    try:
        entries = inventory.parse(text)
    except inventory.InventoryError:
        return
    assert entries and [e.offset for e in entries] == sorted(e.offset for e in entries)


field = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -=.", min_size=1, max_size=12)


@st.composite
def inventories(draw):
    offsets = sorted(draw(st.lists(st.integers(0, 10**9), min_size=1, max_size=12, unique=True)))
    lines = [
        f"{n}:{o}:d=2025031200:{draw(field)}:{draw(field)}:anl:" for n, o in enumerate(offsets, 1)
    ]
    size = offsets[-1] + draw(st.integers(1, 10**6))
    return "\n".join(lines) + "\n", size


@FAST
@given(inventories())
def test_valid_inventories_round_trip_and_tile_the_file(case):
    text, size = case
    entries = inventory.parse(text)
    assert inventory.format_lines(entries) == text
    msgs = inventory.messages(entries, size)
    assert msgs[0].start == entries[0].offset and msgs[-1].end == size
    assert all(a.end == b.start for a, b in zip(msgs, msgs[1:], strict=False))


@FAST
@given(inventories(), st.data())
def test_merged_ranges_cover_exactly_the_chosen_messages(case, data):
    text, size = case
    msgs = inventory.messages(inventory.parse(text), size)
    chosen = data.draw(st.lists(st.sampled_from(msgs), unique=True))
    ranges = inventory.merge_ranges(chosen)
    covered = {(m.start, m.end) for m in chosen}
    assert sum(e - s for s, e in ranges) == sum(e - s for s, e in covered)
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # apart, sorted


@FAST
@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
def test_cycle_ids_round_trip(moment):
    cycle = moment.replace(microsecond=0, tzinfo=UTC)
    assert paths.parse_cycle(paths.cycle_id(cycle)) == cycle


@FAST
@given(st.text(alphabet="0123456789-,/", max_size=20))
def test_hour_specs_give_hours_or_a_clear_error(spec):
    try:
        hours = timetable.parse_hours(spec)
    except GridflowError:
        return
    assert hours == sorted(set(hours)) and all(0 <= h <= timetable.LAST_HOUR for h in hours)


@FAST
@given(st.one_of(st.floats(allow_nan=True), st.text(max_size=8), st.integers()))
def test_a_rain_amount_is_inches_in_range_or_refused(value):
    try:
        amount = readings.inches(value, "cell")
    except GridflowError:
        return
    assert 0.0 <= amount <= readings.MAX_INCHES


@FAST
@given(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.integers())
)
def test_an_excel_date_cell_is_a_day_blank_or_refused(value):
    try:
        readings.excel_day(value, "cell")
    except (GridflowError, OverflowError, ValueError) as exc:
        assert isinstance(exc, GridflowError), f"{value!r}: {exc!r}"


@FAST
@given(st.text(max_size=120))
def test_goes_file_names_give_a_scan_time_or_none(name):
    from gridflow.sources.goes_abi import GoesAbi

    family = GoesAbi("goes19", {**GoesAbi.defaults, "family": "goes_abi", "satellite": "G19"})
    found = family.scan_time("CMIPC_C02", f"ABI-L2-CMIPC/2025/071/11/{name}")
    assert found is None or isinstance(found, datetime)


# the last: an hour spec found here that built a list of 10^17 hours and exhausted memory
@pytest.mark.parametrize("spec", ["0-120/0", "10-2", "", "3,,4", "0-99999999999999999"])
def test_hour_specs_that_name_no_hours_are_refused(spec):
    with pytest.raises(GridflowError):
        timetable.parse_hours(spec)
