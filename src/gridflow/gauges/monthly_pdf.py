"""MCFCD's monthly daily-precipitation report (`pcpMMYY.pdf`, the record of years before the
workbooks): pages of gauge groups ("G001: Rain Gage Group 01"), a "Gage ID" line of up to
eight ids, one line per day (`11/29/19 0.87 0.83 ...`, newest first) and a `TOTALS:` line;
`____` is an outage, `0.83(1)` a value with footnote mark 1, explained under the table on the
same page ("(1) Gage 1300 down from 11/13 06:00 (0) through 11/16 12:00 (0) ...").

Every value of every page is kept (outages NULL, flagged); a value outside 0-20 inches is
refused naming the page and line; each gauge's days must sum to its `TOTALS:` value within the
rounding of the printed hundredths (half a hundredth per day).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from gridflow.gauges.readings import (
    OUTAGE,
    GaugeFileError,
    Readings,
    apply_footnotes,
    check_total,
    day_end_utc,
    footnote_periods,
    inches,
    near_year,
)

DAY_LINE = re.compile(r"^(\d{2}/\d{2}/\d{2})\s+(.*)$")
VALUE = re.compile(r"^(?:\((?P<lead>\d+)\))?(?P<value>\d+(?:\.\d+)?|_+)?(?:\((?P<mark>\d+)\))?$")
NOTE = re.compile(r"^\((\d+)\)\s+(.*)$")
NOT_IN_REPORT = "not_in_report"


def _missing_days(days: list) -> list:
    """The days of the report's month it has no line for."""
    first = min(days).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    every = [first + timedelta(days=n) for n in range((following - first).days)]
    return [day for day in every if day not in set(days)]


def _value(token: str, where: str) -> tuple[float | None, str | None]:
    m = VALUE.match(token)
    mark = m and (m["mark"] or m["lead"])  # the mark is printed after the value, or before
    if not m or (m["value"] is None and mark is None):
        raise GaugeFileError(f"{where}: {token!r} is not a value")
    if m["value"] is None or m["value"].startswith("_"):
        return None, mark
    return inches(m["value"], where), mark


def _page(text: str, number: int, where: str, out: Readings) -> None:
    at = f"{where} page {number}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    header = next((line for line in lines if line.startswith("Gage ID")), None)
    if header is None:
        raise GaugeFileError(f"{at}: no 'Gage ID' line")
    try:
        gauges = [int(g) for g in header.split()[2:]]
    except ValueError:
        raise GaugeFileError(f"{at}: {header!r} does not list gauge ids") from None
    sums: dict[int, list[float]] = {g: [] for g in gauges}
    start = len(out)
    totals, days = None, []
    notes: list[list[str]] = []
    for line in lines:
        day_line = DAY_LINE.match(line)
        if day_line:
            day = datetime.strptime(day_line[1], "%m/%d/%y").date()
            tokens = day_line[2].split()
            if len(tokens) != len(gauges):
                raise GaugeFileError(
                    f"{at}: {day_line[1]} has {len(tokens)} values for {len(gauges)} gauges"
                )
            days.append(day)
            for gauge, token in zip(gauges, tokens, strict=True):
                value, mark = _value(token, f"{at} {day_line[1]} gauge {gauge}")
                flags = ((OUTAGE,) if value is None else ()) + (
                    (f"footnote={mark}",) if mark else ()
                )
                out.add(gauge, day, day_end_utc(day), value, flags)
                if value is not None:
                    sums[gauge].append(value)
        elif line.startswith("TOTALS:"):
            totals = line.split()[1:]
        elif NOTE.match(line):
            notes.append([NOTE.match(line)[1], NOTE.match(line)[2]])
        elif notes and not line.startswith("2801 W."):
            notes[-1][1] += " " + line  # a note wrapped onto the next line
    if totals is None or not days:
        raise GaugeFileError(f"{at}: no days or no 'TOTALS:' line")
    for day in _missing_days(days):  # a day the report leaves out is missing, not dry
        out.warnings.append(f"{at}: no line for {day:%m/%d/%y}; its values are missing")
        for gauge in gauges:
            out.add(gauge, day, day_end_utc(day), None, (NOT_IN_REPORT,))
    for gauge, total in zip(gauges, totals, strict=False):
        value, _ = _value(total, f"{at} TOTALS gauge {gauge}")
        if value is not None:
            tolerance = 0.005 * len(days) + 1e-6
            check_total(sums[gauge], value, f"{at} TOTALS gauge {gauge}", tolerance)
    periods = []
    for mark, text in notes:
        periods += footnote_periods(mark, text, near_year(min(days)))
        out.footnotes.append(f"page {number}: ({mark}) {text}")
    page = Readings(out.origin, out.kind)
    for name in ("gauge", "day", "time", "inches", "flags"):
        setattr(page, name, getattr(out, name)[start:])
    apply_footnotes(page, periods)
    out.flags[start:] = page.flags


def read(path: Path, where: str | None = None) -> Readings:
    import pdfplumber
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfplumber.utils.exceptions import PdfminerException

    where = where or str(path)
    out = Readings(origin="monthly_pdf", kind="daily")
    try:
        with pdfplumber.open(path) as pdf:
            for number, page in enumerate(pdf.pages, start=1):
                _page(page.extract_text() or "", number, where, out)
    except (PDFSyntaxError, PdfminerException, OSError) as exc:
        raise GaugeFileError(f"{where}: not a PDF pdfplumber can read ({exc})") from None
    if not len(out):
        raise GaugeFileError(f"{where}: no gauge values on any page")
    return out
