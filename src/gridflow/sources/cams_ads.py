"""CAMS air quality from the Copernicus Atmosphere Data Store (ADS): one request per cycle and
product type (forecast, analysis), run as a job on the ADS (gridflow.jobs.resumable,
gridflow.jobs.ads), its GRIB or NetCDF result downloaded, checked against the advertised size
and type, and decoded like any file of its format: every constituent a field of its own
(`chemical=...`).
"""

from __future__ import annotations

from datetime import datetime

from gridflow.sources import timetable
from gridflow.sources.forecast import HOURS
from gridflow.sources.job_service import JOB_KEYS, JobFamily

# what the ADS calls the formats gridflow reads
DATA_FORMATS = {"grib2": "grib", "netcdf_cf": "netcdf"}
# what a retrieve request of the Copernicus data stores (ADS, CDS) takes beside its dataset
RETRIEVE_KEYS = {
    "area": {
        "description": "[north, west, south, east] in degrees, as the data store takes it",
        "type": "array",
        "minItems": 4,
        "maxItems": 4,
        "items": {"type": "number"},
    },
    "key_variable": {"type": "string", "description": "the environment variable of the key"},
    "format": {"enum": sorted(DATA_FORMATS), "description": "GRIB (default) or NetCDF"},
}


SCHEMA = {
    "properties": {
        "dataset": {"type": "string", "minLength": 1, "description": "the ADS dataset id"},
        "types": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": ["forecast", "analysis"]},
        },
        "variables": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "model": {"type": "string", "minLength": 1},
        "levels": {"type": "array", "minItems": 1, "items": {"type": "number"}},
        "leadtime_hours": HOURS,
        **RETRIEVE_KEYS,
        **JOB_KEYS,
    },
    "required": ["dataset", "variables", "cycles"],
}


class CamsAds(JobFamily):
    name = "cams_ads"
    schema = SCHEMA
    defaults = {
        "url": "https://ads.atmosphere.copernicus.eu/api",
        "types": ["forecast"],
        "leadtime_hours": "0-96",
        "publish_delay_minutes": 600,
        "key_variable": "ADS_API_KEY",
        "wait_seconds": 600,
        # the ADS runs a few requests per user at once and queues the rest for hours
        "give_up_hours": 12,
        "max_jobs_in_flight": 4,
        "select": "all",
    }

    @property
    def steps(self) -> list[str]:
        return list(self.src["types"])

    def request(self, cycle: datetime, step: str) -> dict:
        hours = "0" if step == "analysis" else self.src["leadtime_hours"]
        inputs = {
            "variable": list(self.src["variables"]),
            "date": [f"{cycle:%Y-%m-%d}/{cycle:%Y-%m-%d}"],
            "type": [step],
            "time": [f"{cycle:%H}:00"],
            "leadtime_hour": [str(h) for h in timetable.parse_hours(hours)],
            "data_format": DATA_FORMATS[self.raw_format],
        }
        if self.src.get("model"):  # the European dataset's; the global one has none
            inputs["model"] = [self.src["model"]]
        if self.src.get("levels"):
            inputs["level"] = [f"{level:g}" for level in self.src["levels"]]
        if self.src.get("area"):
            inputs["area"] = list(self.src["area"])
        return {"dataset": self.src["dataset"], "inputs": inputs}

    @staticmethod
    def service(operating: dict):
        from gridflow.jobs.ads import DataStore
        from gridflow.net.transport import Settings

        settings = Settings(**operating["settings"])
        return DataStore(operating["url"], operating["key_variable"], settings)

    def operating(self, fetch_cfg: dict) -> dict:
        return {**super().operating(fetch_cfg), "key_variable": self.src["key_variable"]}


FAMILY = CamsAds
