"""MCFCD's real records read by gridflow's gauge readers: every daily value kept, each checked
against the file's own totals; outages and footnoted estimates flagged, never zero; a value
outside 0-20 inches refused naming its sheet and cell."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime

import pytest
from python_calamine import CalamineWorkbook

from gridflow.gauges import alert_page, fopr, monthly_pdf, water_year_workbook
from gridflow.gauges.readings import GaugeFileError

WORKBOOK = "pcp_WY_2023.xlsx"
PDF = "pcp1119.pdf"
FOPR = "59700_FOPR.xlsx"
PAGE = "fcdmc_alert_showdata_59700_AztecPark_2025-10-14.html"


@pytest.fixture(scope="module")
def workbook(samples):
    return water_year_workbook.read(samples / WORKBOOK)


def test_the_workbook_keeps_every_daily_value(samples, workbook):
    book = CalamineWorkbook.from_path(str(samples / WORKBOOK))
    values = outages = 0
    for sheet in water_year_workbook.MONTHS:
        for row in book.get_sheet_by_name(sheet).to_python()[3:]:
            if row and row[0] == "Totals:":
                break
            if not row or row[0] == "":
                continue
            values += sum(isinstance(v, float) for v in row[1:])
            outages += sum(v == "N/A" for v in row[1:])
    assert len(workbook) == values + outages == 132130
    assert sum(v is None for v in workbook.inches) == outages
    assert all(
        "outage" in f for v, f in zip(workbook.inches, workbook.flags, strict=False) if v is None
    )


def test_a_gauges_year_equals_the_workbooks_own_total(samples, workbook):
    annual = (
        CalamineWorkbook.from_path(str(samples / WORKBOOK))
        .get_sheet_by_name("Annual_Totals")
        .to_python()
    )
    column = annual[2].index(59700.0)
    total = next(r for r in annual if r and r[0] == "Totals:")[column]
    year = sum(v for g, v in zip(workbook.gauge, workbook.inches, strict=False) if g == 59700 and v)
    assert year == pytest.approx(total, abs=1e-6) and total == pytest.approx(6.81101, abs=1e-5)


def test_footnoted_estimates_and_annual_disagreements_are_flagged(workbook):
    flagged = {
        (d, f)
        for g, d, f in zip(workbook.gauge, workbook.day, workbook.flags, strict=False)
        if g == 8700
    }
    # "down from 10/17 ... through 10/19 ...; estimated 28mm for the events of 10/15 & 16"
    assert (date(2022, 10, 18), "footnote=2") in flagged
    assert (date(2022, 10, 15), "footnote=2,estimated") in flagged
    # the Annual_Totals sheet disagrees with the month sheets for a few gauges (real data)
    assert len(workbook.warnings) == 14
    assert (
        "Annual_Totals!LH5 says 0.1575 in, the SEP sheet's days sum to 1.6142"
        in (workbook.warnings[0])
    )
    assert any(
        "annual_total_differs" in f
        for g, f in zip(workbook.gauge, workbook.flags, strict=False)
        if g == 76600
    )


@pytest.mark.slow  # editing the real workbook with openpyxl takes seconds
def test_a_value_outside_0_to_20_inches_is_refused_naming_the_cell(samples, tmp_path):
    import openpyxl

    bad = tmp_path / WORKBOOK
    shutil.copyfile(samples / WORKBOOK, bad)
    book = openpyxl.load_workbook(bad)
    book["OCT"]["C10"] = 25.4
    book.save(bad)
    with pytest.raises(GaugeFileError, match=r"sheet OCT!C10: 25.4 inches is outside 0-20"):
        water_year_workbook.read(bad)


@pytest.mark.slow
def test_a_sheet_that_does_not_sum_to_its_total_is_refused(samples, tmp_path):
    import openpyxl

    bad = tmp_path / WORKBOOK
    shutil.copyfile(samples / WORKBOOK, bad)
    book = openpyxl.load_workbook(bad)
    book["NOV"]["B35"] = 9.99  # the Totals: row of gauge 1000
    book.save(bad)
    with pytest.raises(GaugeFileError, match=r"sheet NOV!B35: the values sum to .* total is"):
        water_year_workbook.read(bad)


def test_the_monthly_pdf_keeps_every_gauge_and_marks_what_it_lacks(samples):
    pdf = monthly_pdf.read(samples / PDF)
    assert len(set(pdf.gauge)) == 356 and len(pdf) == 356 * 30
    assert pdf.warnings == [
        f"{samples / PDF} page 40: no line for 11/03/19; its values are missing"
    ]
    by = {
        (g, d): (v, f)
        for g, d, v, f in zip(pdf.gauge, pdf.day, pdf.inches, pdf.flags, strict=False)
    }
    assert by[(1000, date(2019, 11, 29))] == (0.16, "")
    assert by[(1300, date(2019, 11, 14))] == (None, "outage,footnote=1")
    # the day page 40 leaves out falls in gauge 77500's footnoted outage
    assert by[(77500, date(2019, 11, 3))] == (None, "not_in_report,footnote=2")


def test_the_period_of_record_has_the_gauges_metadata_and_every_year(samples):
    gauge, record = fopr.read(samples / FOPR)
    assert (gauge.gauge, gauge.name, gauge.former_ids) == (59700, "Aztec Park", (4695,))
    assert (gauge.lat, gauge.lon, gauge.elevation_ft) == (33.61006, -111.86545, 1465.0)
    assert gauge.city == "Scottsdale" and gauge.data_begins == date(1998, 2, 9)
    assert min(record.day) == date(1997, 10, 1) and max(record.day) == date(2024, 9, 30)
    wy2023 = sum(
        v or 0
        for d, v in zip(record.day, record.inches, strict=False)
        if date(2022, 10, 1) <= d <= date(2023, 9, 30)
    )
    assert wy2023 == pytest.approx(6.81101, abs=1e-5)


def test_the_alert_page_is_read_in_arizona_time_as_utc(samples):
    gauge, name, page = alert_page.read(samples / PAGE)
    assert (gauge, name, len(page)) == (59700, "Aztec Park", 195)
    # "10/14/2025 12:00:00" in Arizona (MST, no daylight saving) is 19:00 UTC
    assert page.time[0] == datetime(2025, 10, 14, 19, tzinfo=UTC)
    assert page.inches[4] == pytest.approx(0.04)


@pytest.mark.parametrize("reader", [water_year_workbook.read, monthly_pdf.read])
def test_an_html_error_page_saved_as_data_is_refused(tmp_path, reader):
    bad = tmp_path / "saved.bin"
    bad.write_text("<html><body>503 Service Unavailable</body></html>")
    with pytest.raises(GaugeFileError, match="saved.bin: not a"):
        reader(bad)
