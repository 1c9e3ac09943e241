"""What every gauge reader returns: one row per gauge and day (or timestamp), with the flags
that say what is known about it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from gridflow.errors import FetchError

ARIZONA = timezone(timedelta(hours=-7), "MST")  # no daylight saving
MAX_INCHES = 20.0  # a day above this is a broken record, not rain
OUTAGE = "outage"
ESTIMATED = "estimated"


class GaugeFileError(FetchError):
    """A gauge file that does not read as its layout says, or fails its own totals."""


def day_end_utc(day: date) -> datetime:
    """The end of an Arizona calendar day, in UTC."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), ARIZONA).astimezone(UTC)


def arizona_to_utc(stamp: datetime) -> datetime:
    return stamp.replace(tzinfo=ARIZONA).astimezone(UTC)


def excel_day(value, where: str) -> date | None:
    """A date cell: a date (as calamine gives it), an Excel serial number, or blank."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        try:
            return date(1899, 12, 30) + timedelta(days=int(value))
        except (OverflowError, ValueError):
            raise GaugeFileError(f"{where}: {value!r} is no date Excel can hold") from None
    if value in ("", None):
        return None
    raise GaugeFileError(f"{where}: {value!r} is not a date")


def cell_name(row: int, col: int) -> str:
    """A1-style name of a 0-based (row, col)."""
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row + 1}"


def is_outage(value) -> bool:
    """MCFCD's marks of a gauge that was down: N/A, _ and ____, or nothing."""
    return value in ("", None) or (
        isinstance(value, str) and (value.strip() in ("N/A", "") or set(value.strip()) == {"_"})
    )


def inches(value, where: str) -> float:
    """A daily value, refused outside 0-20 inches."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(str(value).strip())
        except ValueError:
            raise GaugeFileError(f"{where}: {value!r} is not a rain amount") from None
    if not 0.0 <= value <= MAX_INCHES:
        raise GaugeFileError(f"{where}: {value:g} inches is outside 0-{MAX_INCHES:g}")
    return float(value)


def check_total(values: list[float], total, where: str, tolerance: float) -> None:
    """The file's own total must be the sum of its values."""
    if isinstance(total, str) and is_outage(total):
        return  # a gauge down all period has no total
    given = inches(total, where) if not isinstance(total, (int, float)) else float(total)
    if abs(sum(values) - given) > tolerance:
        raise GaugeFileError(
            f"{where}: the values sum to {sum(values):.4f} inches, the file's total is {given:.4f}"
        )


@dataclass
class Readings:
    """Rows of gauge_observations, column by column."""

    origin: str  # water_year_workbook, monthly_pdf, fopr, alert_page
    kind: str  # daily, increment
    gauge: list[int] = field(default_factory=list)
    day: list[date] = field(default_factory=list)
    time: list[datetime] = field(default_factory=list)
    inches: list[float | None] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)  # the file's own words
    warnings: list[str] = field(default_factory=list)  # disagreements kept, and flagged

    def add(self, gauge: int, day: date, time: datetime, value: float | None, flags=()) -> None:
        self.gauge.append(gauge)
        self.day.append(day)
        self.time.append(time)
        self.inches.append(value)
        self.flags.append(",".join(flags))

    def __len__(self) -> int:
        return len(self.gauge)


# "2. Gage 8700 down from 10/17 12:00 (0) through 10/19 12:00 (?) due to ...; estimated 28mm"
DOWN = re.compile(
    r"Gage\s+(\d+)\s+down\s+from\s+(\d{1,2})/(\d{1,2})\b.*?through\s+(\d{1,2})/(\d{1,2})\b",
    re.IGNORECASE,
)


def near_year(month_of: date):
    """The year of a month named without one, in a note about the month of `month_of`."""

    def year(month: int) -> int:
        if month - month_of.month > 6:
            return month_of.year - 1
        if month_of.month - month > 6:
            return month_of.year + 1
        return month_of.year

    return year


# "...; estimated 28mm for the events of 10/15 & 16." names the days the estimate went to
ESTIMATE_DAYS = re.compile(r"estimated[^;]*?(?:for|to) the events? of ([0-9/&, ]+)", re.I)


def _estimate_days(text: str, year_of) -> list[date]:
    m = ESTIMATE_DAYS.search(text)
    if not m:
        return []
    days, month = [], None
    for part in re.split(r"[&,]", m[1]):
        part = part.strip()
        if "/" in part:
            month, _, day = part.partition("/")
            month = int(month)
        else:
            day = part
        if month and day.strip().isdigit():
            days.append(date(year_of(month), month, int(day)))
    return days


def footnote_periods(number: str, text: str, year_of) -> list[tuple[int, date, date, tuple]]:
    """(gauge, first day, last day, flags) a footnote marks: the days a gauge was down, flagged
    `footnote=N`; the days an estimate went to (`estimated 28mm for the events of 10/15 & 16`)
    flagged `estimated` too, or the down days themselves when the note names none."""
    found = []
    for m in DOWN.finditer(text):
        gauge, m1, d1, m2, d2 = (int(g) for g in m.groups())
        first, last = date(year_of(m1), m1, d1), date(year_of(m2), m2, d2)
        mark = f"footnote={number}"
        estimated = "estimat" in text.lower()
        named = _estimate_days(text, year_of) if estimated else []
        found.append(
            (gauge, first, last, (mark, *((ESTIMATED,) if estimated and not named else ())))
        )
        found += [(gauge, day, day, (mark, ESTIMATED)) for day in named]
    return found


def apply_footnotes(readings: Readings, periods) -> None:
    """Flag the readings inside each footnote's period (outages keep their outage flag too)."""
    for i, (gauge, day) in enumerate(zip(readings.gauge, readings.day, strict=True)):
        for g, first, last, flags in periods:
            if g == gauge and first <= day <= last:
                have = [f for f in readings.flags[i].split(",") if f]
                readings.flags[i] = ",".join(dict.fromkeys([*have, *flags]))
