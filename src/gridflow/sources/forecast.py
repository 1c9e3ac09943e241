"""Model output on a forecast schedule: cycles at fixed hours, one file per forecast hour, each
expected a publication delay after its cycle. The base of every model family (NOAA, ECMWF)."""

from __future__ import annotations

import posixpath
from datetime import datetime

from gridflow import paths
from gridflow.sources import timetable
from gridflow.sources.base import Family
from gridflow.sources.targets import Lister, Target

HOURS = {
    "type": "string",
    "description": 'Hours or ranges with an optional stride, e.g. "0-120,123-384/3".',
    "pattern": r"^\d+(-\d+(/\d+)?)?(,\d+(-\d+(/\d+)?)?)*$",
}
SCHEMA = {
    "properties": {
        "key": {"type": "string", "minLength": 1, "description": "object key template"},
        "idx": {"type": ["string", "null"], "description": "index key template ({key})"},
        "cycles": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "integer", "minimum": 0, "maximum": 23},
        },
        "forecast_hours": HOURS,
        "forecast_hours_by_cycle": {
            "type": "object",
            "propertyNames": {"pattern": r"^([01]?\d|2[0-3])$"},
            "additionalProperties": HOURS,
        },
        "publish_delay_minutes": {"type": "number", "minimum": 0},
        "publish_minutes_per_step": {"type": "number", "minimum": 0},
    },
    "required": ["key", "cycles", "forecast_hours", "publish_delay_minutes"],
}


class ForecastFamily(Family):
    schema = SCHEMA

    def key(self, cycle: datetime, step: int) -> str:
        return self.src["key"].format(cycle=cycle, step=step)

    def idx_key(self, cycle: datetime, step: int) -> str | None:
        template = self.src.get("idx")
        return template.format(key=self.key(cycle, step)) if template else None

    def listing_prefix(self, cycle: datetime) -> str:
        return posixpath.dirname(self.key(cycle, 0))

    def steps(self, cycle: datetime) -> list[int]:
        return timetable.forecast_hours(self.src, cycle)

    def window(self, now: datetime, lister: Lister):
        ready, waiting = [], []
        for cycle in timetable.cycles_in_window(self.src, now):
            r, w = self.cycle(cycle, now, lister)
            ready += r
            waiting += w
        return ready, waiting

    def cycle(self, cycle: datetime, now: datetime, lister: Lister):
        due, waiting = [], []
        for step in self.steps(cycle):
            at = timetable.expected_at(self.src, cycle, step)
            if at <= now:  # due: published or not, the listing below says
                due.append(Target(self.name, cycle, step, at))
            else:
                waiting.append(Target(self.name, cycle, step, at, "not due yet"))
        if not due:
            return [], waiting
        cache = paths.LISTING_CACHE.format(source=self.name, cycle=paths.cycle_id(cycle))
        all_steps = len(due) + len(waiting)
        if lister.remembered(cache, all_steps):
            return due, waiting
        wanted = {
            t.step: [k for k in (self.key(cycle, t.step), self.idx_key(cycle, t.step)) if k]
            for t in due
        }
        keys = [k for ks in wanted.values() for k in ks]
        listed = lister.present(keys, self.listing_prefix(cycle))
        ready = []
        for t in due:
            infos = [listed.get(k) for k in wanted[t.step]]
            if any(i is None for i in infos):
                waiting.append(
                    Target(self.name, cycle, t.step, t.expected_at, "late: not listed yet")
                )
            elif not all(lister.settled(i) for i in infos):
                waiting.append(
                    Target(self.name, cycle, t.step, t.expected_at, "still being written")
                )
            else:
                ready.append(t)
        if len(ready) == all_steps:
            lister.remember(cache, all_steps, list(listed))
        return ready, sorted(waiting, key=lambda t: (t.cycle, t.step))
