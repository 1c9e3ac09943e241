from __future__ import annotations

import pytest

from gridflow import inventory

IDX = """1:0:d=2025031206:HGT:10 mb:3 hour fcst:
2:100:d=2025031206:TMP:2 m above ground:3 hour fcst:
3.1:250:d=2025031206:UGRD:10 m above ground:3 hour fcst:
3.2:250:d=2025031206:VGRD:10 m above ground:3 hour fcst:
4:400:d=2025031206:APCP:surface:0-3 hour acc fcst:
5:500:d=2025031206:PRMSL:mean sea level:3 hour fcst:
"""


def test_parse_groups_multi_field_messages():
    msgs = inventory.messages(inventory.parse(IDX), file_size=600)
    assert [(m.start, m.end, len(m.entries)) for m in msgs] == [
        (0, 100, 1),
        (100, 250, 1),
        (250, 400, 2),
        (400, 500, 1),
        (500, 600, 1),
    ]


def test_search_strings_select_whole_messages_and_merge_adjacent_ranges():
    msgs = inventory.messages(inventory.parse(IDX), file_size=600)
    chosen = inventory.select(msgs, [":TMP:2 m above ground:", ":VGRD:10 m", ":PRMSL:"])
    assert [m.start for m in chosen] == [100, 250, 500]
    assert inventory.merge_ranges(chosen) == [(100, 400), (500, 600)]
    kept = inventory.relocate(chosen)
    assert [(e.number, e.offset, e.variable) for e in kept] == [
        ("1", 0, "TMP"),
        ("2.1", 150, "UGRD"),
        ("2.2", 150, "VGRD"),
        ("3", 300, "PRMSL"),
    ]


def test_all_takes_every_message():
    msgs = inventory.messages(inventory.parse(IDX), file_size=600)
    assert inventory.select(msgs, "all") == msgs


def test_round_trip_keeps_wgrib2_format():
    assert inventory.format_lines(inventory.parse(IDX)) == IDX


@pytest.mark.parametrize(
    "bad, message",
    [
        ("", "empty"),
        ("hello world\n", "not a wgrib2 inventory line"),
        ("1:100:d=1:A:B:C:\n2:50:d=1:A:B:C:\n", "ascending"),
    ],
)
def test_bad_inventories_are_named(bad, message):
    with pytest.raises(inventory.InventoryError, match=message):
        inventory.parse(bad, "x.idx")


def test_inventory_that_overruns_the_file_is_refused():
    with pytest.raises(inventory.InventoryError, match="does not fit a file of 450 bytes"):
        inventory.messages(inventory.parse(IDX), file_size=450)


def test_real_gfs_quarter_degree_index(samples):
    entries = inventory.parse((samples / "gfs.20250801.t00z.pgrb2.0p25.f000.idx").read_text())
    msgs = inventory.messages(entries, file_size=entries[-1].offset + 1_000_000)
    chosen = inventory.select(msgs, [":TMP:2 m above ground:", ":(UGRD|VGRD):10 m above ground:"])
    assert [e.variable for m in chosen for e in m.entries] == ["TMP", "UGRD", "VGRD"]
    # UGRD and VGRD at 10 m are neighbours in NOAA's files: one request fetches both
    assert len(inventory.merge_ranges(chosen)) == 2
