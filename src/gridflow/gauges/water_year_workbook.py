"""MCFCD's all-gauge daily workbook of a water year (`pcp_WY_YYYY.xlsx`): one sheet per month
(SEP ... OCT, looked up by name), gauges as columns from B (their ids in row 3), Arizona days
in column A (Excel dates, newest first; short months leave leading rows blank), then a
`Totals:` row and footnotes; `Annual_Totals` has each month's total per gauge and the year's.

Every daily value is kept: `N/A`, `_` and blanks are outages (NULL, flagged `outage`); values
outside 0-20 inches are refused naming the sheet and cell; each gauge's days must sum to the
sheet's own total and each month's total to `Annual_Totals`, or the file is refused. Footnoted
periods ("Gage 8700 down from 10/17 ... through 10/19 ...; estimated 28mm") flag their days.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from gridflow.gauges.readings import (
    OUTAGE,
    GaugeFileError,
    Readings,
    apply_footnotes,
    cell_name,
    check_total,
    day_end_utc,
    excel_day,
    footnote_periods,
    inches,
    is_outage,
    near_year,
)

MONTHS = ("OCT", "NOV", "DEC", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP")
GAUGE_ROW = 2  # row 3: "Gage ID --->", then the ids
TOLERANCE = 0.001  # inches: the totals are Excel sums of the same unrounded values
ANNUAL_DIFFERS = "annual_total_differs"


def _gauges(rows: list[list], where: str) -> list[int]:
    header = rows[GAUGE_ROW] if len(rows) > GAUGE_ROW else []
    if not header or not str(header[0]).startswith("Gage ID"):
        raise GaugeFileError(f"{where}: row 3 does not start with 'Gage ID'")
    ids = []
    for col, value in enumerate(header[1:], start=1):
        if value in ("", None):
            break
        try:
            ids.append(int(float(value)))
        except ValueError:
            at = f"{where}!{cell_name(GAUGE_ROW, col)}"
            raise GaugeFileError(f"{at}: {value!r} is no gauge id") from None
    return ids


def _month(rows, sheet: str, where: str, out: Readings) -> dict[int, float]:
    """Read one month sheet into `out`; returns each gauge's total (the sheet's own)."""
    at = f"{where} sheet {sheet}"
    gauges = _gauges(rows, at)
    sums = {g: [] for g in gauges}
    totals = None
    footnotes_from = None
    days: list[date] = []
    for r in range(GAUGE_ROW + 1, len(rows)):
        row = rows[r]
        label = row[0] if row else ""
        if isinstance(label, str) and label.strip().startswith("Totals"):
            totals = row
            footnotes_from = r + 1
            break
        day = excel_day(label, f"{at}!{cell_name(r, 0)}")
        if day is None:
            continue  # the blank leading rows of a short month
        days.append(day)
        for c, gauge in enumerate(gauges, start=1):
            value = row[c] if c < len(row) else ""
            where_cell = f"{at}!{cell_name(r, c)}"
            if is_outage(value):
                out.add(gauge, day, day_end_utc(day), None, (OUTAGE,))
            else:
                amount = inches(value, where_cell)
                sums[gauge].append(amount)
                out.add(gauge, day, day_end_utc(day), amount)
    if totals is None:
        raise GaugeFileError(f"{at}: no 'Totals:' row")
    if not days:
        raise GaugeFileError(f"{at}: no days")
    own: dict[int, float] = {}
    for c, gauge in enumerate(gauges, start=1):
        total = totals[c] if c < len(totals) else ""
        check_total(sums[gauge], total, f"{at}!{cell_name(footnotes_from - 1, c)}", TOLERANCE)
        own[gauge] = float(total) if isinstance(total, (int, float)) else sum(sums[gauge])
    notes, started = [], False
    for row in rows[footnotes_from:]:
        started = started or str(row[0]).strip().startswith("Footnotes")
        text = " ".join(str(v) for v in row[1:] if v not in ("", None)).strip()
        if started and text:
            notes.append(text)
    periods = []
    for text in notes:
        number = text.split(".", 1)[0].strip()
        periods += footnote_periods(number, text, near_year(min(days)))
    out.footnotes += [f"{sheet}: {text}" for text in notes]
    return own, periods


def read(path: Path, where: str | None = None) -> Readings:
    from python_calamine import CalamineError, CalamineWorkbook

    where = where or str(path)
    try:
        book = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise GaugeFileError(f"{where}: not a workbook calamine can read ({exc})") from None
    missing = [m for m in (*MONTHS, "Annual_Totals") if m not in book.sheet_names]
    if missing:
        raise GaugeFileError(f"{where}: no sheet {', '.join(missing)}: not a water-year workbook")
    out = Readings(origin="water_year_workbook", kind="daily")
    monthly: dict[str, dict[int, float]] = {}
    periods = []
    for sheet in MONTHS:
        rows = book.get_sheet_by_name(sheet).to_python()
        monthly[sheet], found = _month(rows, sheet, where, out)
        periods += found
    differs = _check_annual(book.get_sheet_by_name("Annual_Totals").to_python(), monthly, where)
    apply_footnotes(out, periods)
    _flag_months(out, differs)
    out.warnings += [note for _, _, note in differs]
    return out


def _flag_months(out: Readings, differs: list[tuple]) -> None:
    months = {(MONTHS.index(sheet) + 9) % 12 + 1: sheet for sheet, _, _ in differs}
    wanted = {(sheet, gauge) for sheet, gauge, _ in differs}
    for i, (gauge, day) in enumerate(zip(out.gauge, out.day, strict=True)):
        if (months.get(day.month), gauge) in wanted:
            out.flags[i] = ",".join(f for f in (out.flags[i], ANNUAL_DIFFERS) if f)


def _check_annual(rows, monthly: dict[str, dict[int, float]], where: str) -> list[tuple]:
    """(sheet, gauge, note) where `Annual_Totals` disagrees with the month sheets. The month
    sheets are the record (their days sum to their totals, checked above); the annual sheet of
    real workbooks disagrees for a few gauges (a gauge installed or renumbered mid-year), so
    a disagreement flags those gauge-months rather than refusing the year."""
    at = f"{where} sheet Annual_Totals"
    gauges = _gauges(rows, at)
    found = []
    for r in range(GAUGE_ROW + 1, len(rows)):
        label = str(rows[r][0]).strip() if rows[r] else ""
        sheet = label[:3].upper()
        if sheet not in monthly:
            continue
        for c, gauge in enumerate(gauges, start=1):
            given = rows[r][c] if c < len(rows[r]) else ""
            month = monthly[sheet].get(gauge)
            if month is None or is_outage(given):
                continue
            if abs(float(given) - month) > TOLERANCE:
                found.append(
                    (
                        sheet,
                        gauge,
                        f"{at}!{cell_name(r, c)} says {float(given):.4f} in, the "
                        f"{sheet} sheet's days sum to {month:.4f}",
                    )
                )
    if not any(str(r[0]).strip().startswith("Totals") for r in rows if r):
        raise GaugeFileError(f"{at}: no 'Totals:' row")
    return found
