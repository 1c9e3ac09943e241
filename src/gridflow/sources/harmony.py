"""NASA Harmony (TEMPO air quality and any Earthdata collection Harmony serves): one request
per hour and product, for the last completed hour (`subset=time("H:00":"H:59:59")`), the
configured bounding box and one output format, run as a Harmony job (gridflow.jobs.resumable,
gridflow.jobs.harmony_client) or answered at once, with an Earthdata token
(gridflow.jobs.earthdata).

Products name their collection by concept id: ids are resolved once, when the source is
configured (`config/sources/tempo.yaml` holds TEMPO's), never looked up per run. A job that
made several files (an hour that spans two scans) is kept as one zip of them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from gridflow.formats.base import Asked
from gridflow.sources.job_service import JOB_KEYS, JobFamily

# the period of a request, as its `subset` says it: time("2025-03-12T18:00:00Z":"...:59:59Z")
TIME_SUBSET = re.compile(r'time\("([^"]+)":"([^"]+)"\)')

# the output formats Harmony is asked for, by the format plug-in that reads them
MEDIA_TYPES = {"geotiff": "image/tiff", "tempo_netcdf": "application/netcdf"}

SCHEMA = {
    "properties": {
        "products": {
            "description": "the steps: each a name, the collection (concept id) and variable",
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                    "collection": {"type": "string", "pattern": "^C[0-9]+-[A-Z_]+$"},
                    "short_name": {"type": "string"},
                    "variable": {"type": "string", "minLength": 1},
                },
                "required": ["name", "collection", "variable"],
                "additionalProperties": False,
            },
        },
        "bbox": {
            "description": "[west, south, east, north] in degrees",
            "type": "array",
            "minItems": 4,
            "maxItems": 4,
            "items": {"type": "number"},
        },
        "format": {"enum": sorted(MEDIA_TYPES)},
        "edl_url": {"type": "string", "description": "Earthdata Login, for its tokens"},
        "force_async": {"type": "boolean", "description": "always a job, never a sync reply"},
        "dqf_keep": {
            "description": "main_data_quality_flag values whose pixels are kept (default [0])",
            "type": "array",
            "minItems": 1,
            "items": {"type": "integer"},
        },
        **JOB_KEYS,
    },
    "required": ["products", "bbox", "cycles"],
}


class HarmonyFamily(JobFamily):
    name = "harmony"
    format = "tempo_netcdf"
    schema = SCHEMA
    defaults = {
        "url": "https://harmony.earthdata.nasa.gov",
        "edl_url": "https://urs.earthdata.nasa.gov",
        # TEMPO's hourly scans land in Harmony within about an hour of their end
        "publish_delay_minutes": 120,
        "force_async": False,
        "wait_seconds": 600,
        "give_up_hours": 6,
        "max_jobs_in_flight": 6,
        "select": "all",
    }

    @property
    def steps(self) -> list[str]:
        return [product["name"] for product in self.src["products"]]

    def due(self, cycle: datetime) -> datetime:
        # the cycle is an hour of observations: due once it has ended, plus the delay
        return cycle + timedelta(hours=1, minutes=self.src["publish_delay_minutes"])

    def request(self, cycle: datetime, step: str) -> dict:
        product = next(p for p in self.src["products"] if p["name"] == step)
        west, south, east, north = self.src["bbox"]
        end = cycle + timedelta(hours=1) - timedelta(seconds=1)
        params = {
            "subset": [
                f"lat({south:g}:{north:g})",
                f"lon({west:g}:{east:g})",
                f'time("{cycle:%Y-%m-%dT%H:%M:%SZ}":"{end:%Y-%m-%dT%H:%M:%SZ}")',
            ],
            "format": MEDIA_TYPES[self.raw_format],
            "skipPreview": "true",
        }
        if self.src["force_async"]:
            params["forceAsync"] = "true"
        return {
            "collection": product["collection"],
            "variable": product["variable"],
            "params": params,
        }

    @staticmethod
    def asked(request: dict) -> Asked:
        """The product's variable and the hour asked for: a GeoTIFF Harmony makes may carry
        neither (its band is unnamed, its only time the file's own creation)."""
        period = [None, None]
        for part in request.get("params", {}).get("subset", []):
            if found := TIME_SUBSET.fullmatch(part):
                period = [
                    datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(UTC)
                    for t in found.groups()
                ]
        return Asked(request.get("variable"), *period)

    @staticmethod
    def service(operating: dict):
        from gridflow.jobs.earthdata import Tokens
        from gridflow.jobs.harmony_client import Harmony
        from gridflow.net.transport import Settings

        settings = Settings(**operating["settings"])
        return Harmony(operating["url"], Tokens(operating["edl_url"], settings), settings)

    @staticmethod
    def asset_headers(operating: dict) -> dict | None:
        from gridflow.jobs.earthdata import Tokens
        from gridflow.net.transport import Settings

        tokens = Tokens(operating["edl_url"], Settings(**operating["settings"]))
        return {"Authorization": f"Bearer {tokens.bearer()}"}

    def shred_options(self, step) -> dict:
        kept = {"dqf_keep": self.src["dqf_keep"]} if "dqf_keep" in self.src else {}
        return {**super().shred_options(step), **kept}

    def operating(self, fetch_cfg: dict) -> dict:
        return {**super().operating(fetch_cfg), "edl_url": self.src["edl_url"]}


FAMILY = HarmonyFamily
