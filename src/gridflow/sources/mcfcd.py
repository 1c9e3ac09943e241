"""Rain gauges of the Flood Control District of Maricopa County (MCFCD, alert.fcd.maricopa.gov).

A cycle is a water year (Oct 1 - Sep 30, named by the year it ends; its cycle id is the day it
starts, `2022100100` for water year 2023). Its steps:
- `workbook`: the all-gauge daily workbook (`alert/Rain/pcp_WY_{YYYY}.xlsx`), for water years
  from `workbook_from` on;
- `pdf_MM`: the twelve monthly reports (`alert/Rain/pcp{MM}{YY}.pdf`) of older years, each due
  once its month has ended;
- in the current water year, for each of `gauges`: `fopr_{gauge}`, its period-of-record
  workbook with its metadata (`alert/Rain/FOPR/{gauge}_FOPR.xlsx`), and `live_{gauge}`, its
  live ALERT page (`php/showdata4.php?ID={gauge}&NM=1000`).

MCFCD edits its records, so a record still being edited is fetched again each period of its
`refresh_hours` (the current year's workbook daily, the previous years' weekly,
period-of-record workbooks monthly, live pages hourly): its step carries the period it belongs
to (`workbook.r2023061500`), so a new period is a new target, the plan and `snakemake -n` show
it pending, and its load replaces the rows the older copy loaded. Closed years' records have
no period (`pdf_11`). The older copies stay in the cycle folder as the audit trail of MCFCD's
corrections, until the cycle is purged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridflow.sources.base import Family
from gridflow.sources.targets import Lister, Target

FORMATS = {"workbook": "mcfcd_workbook", "pdf": "mcfcd_pdf", "fopr": "mcfcd_fopr"}
FORMATS["live"] = "mcfcd_alert"

SCHEMA = {
    "properties": {
        "workbook_from": {
            "type": "integer",
            "minimum": 1990,
            "description": "the first water year published as a workbook (older: monthly PDFs)",
        },
        "water_years_back": {
            "type": "integer",
            "minimum": 0,
            "description": "water years before the current one the schedule keeps current",
        },
        "gauges": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "description": "gauges whose period of record and live page are kept",
        },
        "refresh_hours": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                k: {"type": "number", "exclusiveMinimum": 0}
                for k in ("current", "previous", "fopr", "live")
            },
        },
        "publish_delay_hours": {"type": "number", "minimum": 0},
        "min_request_interval_seconds": {"type": "number", "minimum": 0},
    },
    "required": ["workbook_from"],
}


def _kind(step) -> str:
    return str(step).split(".", 1)[0].split("_", 1)[0]


def water_year(day: datetime) -> int:
    return day.year + 1 if day.month >= 10 else day.year


def water_year_start(year: int) -> datetime:
    return datetime(year - 1, 10, 1, tzinfo=UTC)


class Mcfcd(Family):
    name = "mcfcd"
    format = "mcfcd_workbook"
    schema = SCHEMA
    defaults = {
        "url": "https://alert.fcd.maricopa.gov",
        "workbook_from": 2022,
        "water_years_back": 2,
        "gauges": [],
        "refresh_hours": {"current": 24, "previous": 168, "fopr": 720, "live": 1},
        # a month's report appears a few days after it ends
        "publish_delay_hours": 72,
        # MCFCD's server is small: at least 2 s between requests (fetch.min_interval_seconds)
        "min_request_interval_seconds": 2.0,
        "window_hours": 24 * 366 * 3,
        "retention_hours": 24 * 366 * 40,
        "select": "all",
    }

    def format_of(self, step) -> str:
        return FORMATS[_kind(step)]

    def _year_steps(self, year: int, now: datetime) -> list[tuple[str, datetime]]:
        """(step, due) of a water year's record files."""
        delay = timedelta(hours=self.src["publish_delay_hours"])
        start = water_year_start(year)
        if year >= self.src["workbook_from"]:
            return [("workbook", start + timedelta(days=1))]
        steps = []
        for n in range(12):
            month = (start.replace(day=1) + timedelta(days=31 * n + 1)).replace(day=1)
            following = (month + timedelta(days=32)).replace(day=1)
            steps.append((f"pdf_{month:%m}", following + delay))
        return steps

    def cycle(self, cycle: datetime, now: datetime, lister: Lister):
        year = water_year(cycle)
        steps = self._year_steps(year, now)
        if year == water_year(now):
            for gauge in self.src["gauges"]:
                steps += [(f"fopr_{gauge}", cycle), (f"live_{gauge}", cycle)]
        ready, waiting = [], []
        for step, due in steps:
            period = self._period(cycle, step, now)
            step = f"{step}.r{period:%Y%m%d%H}" if period else step
            if due <= now:
                ready.append(Target(self.name, cycle, step, max(due, period or due)))
            else:
                waiting.append(Target(self.name, cycle, step, due, "not published yet"))
        return ready, waiting

    def window(self, now: datetime, lister: Lister):
        current = water_year(now)
        ready, waiting = [], []
        for year in range(current - self.src["water_years_back"], current + 1):
            r, w = self.cycle(water_year_start(year), now, lister)
            ready += r
            waiting += w
        return ready, waiting

    def backfill_cycles(self, first: datetime, last: datetime) -> list[datetime]:
        """The water years from the one holding `first` to the one holding `last`."""
        return [water_year_start(y) for y in range(water_year(first), water_year(last) + 1)]

    def key(self, cycle: datetime, step) -> str:
        year = water_year(cycle)
        kind, _, rest = str(step).split(".", 1)[0].partition("_")
        if kind == "workbook":
            return f"alert/Rain/pcp_WY_{year}.xlsx"
        if kind == "pdf":
            month = int(rest)
            calendar_year = year - 1 if month >= 10 else year
            return f"alert/Rain/pcp{month:02d}{calendar_year % 100:02d}.pdf"
        if kind == "fopr":
            return f"alert/Rain/FOPR/{rest}_FOPR.xlsx"
        return f"php/showdata4.php?ID={rest}&NM=1000"

    def _period(self, cycle: datetime, step, now: datetime) -> datetime | None:
        """The start of the refresh period `now` is in, for a record still being edited."""
        hours = self.src["refresh_hours"]
        kind = _kind(step)
        year = water_year(cycle)
        if kind in ("fopr", "live"):
            every = hours[kind]
        elif kind == "pdf" or year < water_year(now) - self.src["water_years_back"]:
            return None  # a closed year's record is history
        else:
            every = hours["current" if year == water_year(now) else "previous"]
        seconds = every * 3600
        return datetime.fromtimestamp(now.timestamp() // seconds * seconds, UTC)

    def operating(self, fetch_cfg: dict) -> dict:
        where = super().operating(fetch_cfg)
        settings = where["settings"]
        settings["min_interval_seconds"] = max(
            settings["min_interval_seconds"], self.src["min_request_interval_seconds"]
        )
        return where


FAMILY = Mcfcd
