"""NOAA model output (GFS, HRRR, GEFS, NAM, AQM...): one GRIB2 file per cycle and forecast hour,
usually with a wgrib2 `.idx` beside it, laid out by key templates as NOAA's open-data buckets
are. A new NOAA model is one YAML file of this family."""

from __future__ import annotations

from gridflow.sources.forecast import ForecastFamily


class NoaaModel(ForecastFamily):
    name = "noaa_model"
    defaults = {
        "anonymous": True,
        "idx": "{key}.idx",
        "publish_minutes_per_step": 0,
        "select": "all",
    }


FAMILY = NoaaModel
