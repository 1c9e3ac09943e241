"""ERA5 hourly reanalysis from the Copernicus Climate Data Store (CDS): one request per day
(all 24 hours of it), run as a job on the CDS, which speaks the same retrieve API as the ADS
(gridflow.jobs.ads). ERA5 is published about five days behind real time (the preliminary ERA5T),
so a day is due `publish_delay_minutes` after it starts. Each hour is an analysis (step 0): a
point's series is a real week of weather, one value an hour.
"""

from __future__ import annotations

from datetime import datetime

from gridflow.sources.cams_ads import DATA_FORMATS, RETRIEVE_KEYS
from gridflow.sources.job_service import JOB_KEYS, JobFamily

SCHEMA = {
    "properties": {
        "dataset": {"type": "string", "minLength": 1, "description": "the CDS dataset id"},
        "product_type": {"type": "string", "minLength": 1},
        "variables": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        **RETRIEVE_KEYS,
        **JOB_KEYS,
    },
    "required": ["dataset", "variables", "cycles"],
}


class CdsEra5(JobFamily):
    name = "cds_era5"
    schema = SCHEMA
    defaults = {
        "url": "https://cds.climate.copernicus.eu/api",
        "dataset": "reanalysis-era5-single-levels",
        "product_type": "reanalysis",
        "variables": ["2m_temperature"],
        "cycles": [0],  # a day a request
        "publish_delay_minutes": 5 * 24 * 60 + 12 * 60,  # ERA5T: about five days behind
        "key_variable": "CDS_API_KEY",
        "wait_seconds": 600,
        "give_up_hours": 12,
        "max_jobs_in_flight": 4,
        "window_hours": 7 * 24,
        "retention_hours": 14 * 24,
        # two days' gap plus the publication delay: one missed day passes, two do not
        "stale_after_hours": 2 * 24 + 132,
        "select": "all",
    }

    @property
    def steps(self) -> list[str]:
        return [self.src["product_type"]]

    def request(self, cycle: datetime, step: str) -> dict:
        inputs = {
            "product_type": [step],
            "variable": list(self.src["variables"]),
            "year": [f"{cycle:%Y}"],
            "month": [f"{cycle:%m}"],
            "day": [f"{cycle:%d}"],
            "time": [f"{hour:02d}:00" for hour in range(24)],
            "data_format": DATA_FORMATS[self.raw_format],
        }
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


FAMILY = CdsEra5
