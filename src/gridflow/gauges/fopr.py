"""A gauge's full period of record (`{gauge}_FOPR.xlsx`): `Meta_Stats` (name, id history with
renumbering, type, city, county, latitude/longitude in decimal degrees in column C, elevation,
location, remarks, data-begins date) and one sheet per water year (`1998`...`2024`): Arizona
days ascending from Oct 1 in column A, inches in B, then a totals row with A empty.

Every day of every year sheet is kept (`_____` and `N/A` are outages); values outside 0-20
inches are refused naming the sheet and cell; each year's days must sum to its totals row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from gridflow.gauges.readings import (
    OUTAGE,
    GaugeFileError,
    Readings,
    cell_name,
    check_total,
    day_end_utc,
    excel_day,
    inches,
    is_outage,
)

YEAR_SHEET = re.compile(r"^(19|20)\d\d$")
TOLERANCE = 0.001


@dataclass(frozen=True)
class Gauge:
    """A gauge's metadata, as its record states it."""

    gauge: int
    name: str
    former_ids: tuple[int, ...]  # ids it had before a renumbering
    id_history: str  # the record's own words: "59700; 4695 prior to 2/20/2018"
    station_type: str
    city: str
    county: str
    lat: float
    lon: float
    elevation_ft: float | None
    location: str
    remarks: str
    data_begins: date | None

    def as_dict(self) -> dict:
        out = dict(self.__dict__)
        out["former_ids"] = list(self.former_ids)
        out["data_begins"] = self.data_begins.isoformat() if self.data_begins else None
        return out


def _label(rows, label: str, where: str):
    for r, row in enumerate(rows):
        if row and str(row[0]).strip().rstrip(":").lower() == label.lower():
            return r, row
    raise GaugeFileError(f"{where} sheet Meta_Stats: no '{label}:' row")


def _meta(rows, where: str) -> Gauge:
    def text(label: str) -> str:
        _, row = _label(rows, label, where)
        return str(row[1]).strip() if len(row) > 1 else ""

    def degrees(label: str) -> float:
        r, row = _label(rows, label, where)
        value = row[2] if len(row) > 2 else ""
        if not isinstance(value, (int, float)):
            raise GaugeFileError(
                f"{where} sheet Meta_Stats!{cell_name(r, 2)}: {value!r} is not decimal degrees"
            )
        return float(value)

    history = text("Gage ID # History")
    ids = [int(i) for i in re.findall(r"\b\d{3,6}\b", history.split(" prior", 1)[0])]
    ids += [int(i) for i in re.findall(r"\b(\d{3,6}) prior to", history)]
    if not ids:
        raise GaugeFileError(f"{where} sheet Meta_Stats: {history!r} names no gauge id")
    elevation = re.search(r"[\d,.]+", text("Elevation"))
    begins_row, begins = _label(rows, "Data Begins", where)
    lat, lon = degrees("Latitude"), degrees("Longitude")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise GaugeFileError(f"{where} sheet Meta_Stats: {lat}, {lon} is not a place on Earth")
    return Gauge(
        gauge=ids[0],
        name=text("Station Name"),
        former_ids=tuple(dict.fromkeys(i for i in ids[1:] if i != ids[0])),
        id_history=history,
        station_type=text("Station Type"),
        city=text("In or Nearest City/Town"),
        county=text("County"),
        lat=lat,
        lon=lon,
        elevation_ft=float(elevation.group().replace(",", "")) if elevation else None,
        location=text("Location"),
        remarks=text("Remarks"),
        data_begins=excel_day(begins[1], f"{where} Meta_Stats!{cell_name(begins_row, 1)}"),
    )


def _year(rows, sheet: str, gauge: int, where: str, out: Readings) -> None:
    at = f"{where} sheet {sheet}"
    values, total_row = [], None
    for r, row in enumerate(rows):
        if not row or all(v in ("", None) for v in row):
            continue
        day = excel_day(row[0], f"{at}!{cell_name(r, 0)}")
        if day is None:  # the totals row: A empty, B the year's total
            total_row = r
            break
        value = row[1] if len(row) > 1 else ""
        if is_outage(value):
            out.add(gauge, day, day_end_utc(day), None, (OUTAGE,))
        else:
            amount = inches(value, f"{at}!{cell_name(r, 1)}")
            values.append(amount)
            out.add(gauge, day, day_end_utc(day), amount)
    if total_row is None:
        raise GaugeFileError(f"{at}: no totals row (a row with column A empty)")
    check_total(values, rows[total_row][1], f"{at}!{cell_name(total_row, 1)}", TOLERANCE)


def read(path: Path, where: str | None = None) -> tuple[Gauge, Readings]:
    from python_calamine import CalamineError, CalamineWorkbook

    where = where or str(path)
    try:
        book = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise GaugeFileError(f"{where}: not a workbook calamine can read ({exc})") from None
    if "Meta_Stats" not in book.sheet_names:
        raise GaugeFileError(f"{where}: no sheet Meta_Stats: not a period-of-record workbook")
    gauge = _meta(book.get_sheet_by_name("Meta_Stats").to_python(), where)
    out = Readings(origin="fopr", kind="daily")
    years = sorted(name for name in book.sheet_names if YEAR_SHEET.match(name))
    if not years:
        raise GaugeFileError(f"{where}: no water-year sheets (1998, 1999, ...)")
    for sheet in years:
        _year(book.get_sheet_by_name(sheet).to_python(), sheet, gauge.gauge, where, out)
    return gauge, out
