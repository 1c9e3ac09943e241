"""NOAA model output (GFS, HRRR, ...): one GRIB2 file per cycle and forecast hour, each with a
wgrib2 `.idx` beside it, laid out by key templates such as NOAA's open-data buckets use."""

from __future__ import annotations

import posixpath
from datetime import datetime

from gridflow import schedule
from gridflow.sources.base import Source


class NoaaModel(Source):
    def key(self, cycle: datetime, step: int) -> str:
        return self.src["key"].format(cycle=cycle, step=step)

    def idx_key(self, cycle: datetime, step: int) -> str | None:
        template = self.src.get("idx")
        return template.format(key=self.key(cycle, step)) if template else None

    def listing_prefix(self, cycle: datetime) -> str:
        return posixpath.dirname(self.key(cycle, 0))

    def steps(self, cycle: datetime) -> list[int]:
        return schedule.forecast_hours(self.src, cycle)
