"""GOES-R ABI products (NOAA's goes18/goes19 buckets): one NetCDF file per product, band and
scan, in hourly folders `ABI-<level>-<product>/YYYY/DDD/HH/`: Level 2 products (`CMIPC`,
`RRQPEF`, ...) under `ABI-L2-`, Level 1b radiances (`RadC`, `RadF`, `RadM1`) under `ABI-L1b-`.
The two mesoscale sectors share one folder (`ABI-L2-CMIPM/` holds CMIPM1 and CMIPM2 files).

A file's name carries its scan start, end and creation times
(`OR_ABI-L2-CMIPC-M6C13_G19_s20253261201170_e..._c....nc`, YYYYDDDHHMMSS plus tenths): the
scan start (to the second) is the cycle. Names cannot be built from the scan time alone, so the
fetch lists the hour folder and takes the file of that scan (the newest creation if reprocessed).
"""

from __future__ import annotations

import posixpath
import re
from datetime import UTC, datetime, timedelta

from gridflow.sources.base import SHRED_KEYS
from gridflow.sources.scan import ScanFamily

_STAMP = r"(?P<{}>\d{{14}})"
_BBOX = {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}}
_DQF = {"type": "array", "items": {"type": "integer", "minimum": 0}}
PRODUCT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["product", "variable"],
    "properties": {
        "product": {
            "type": "string",
            "pattern": "^(Rad(F|C|M1|M2)|[A-Z][A-Z0-9]*)$",
            "description": "as file names spell it: CMIPC, RRQPEF, CMIPM1 (Level 2); RadC, "
            "RadF, RadM1 (Level 1b radiances, variable Rad)",
        },
        "variable": {"type": "string", "minLength": 1, "description": "the NetCDF variable"},
        "bands": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "integer", "minimum": 1, "maximum": 16},
        },
        "level": {"type": "string", "minLength": 1, "description": "level of band-less products"},
        "stride": {"type": "integer", "minimum": 1},
        "bbox": _BBOX,
        "dqf_keep": _DQF,
    },
}
SCHEMA = {
    "properties": {
        "key": {
            "type": "string",
            "minLength": 1,
            "description": "hour folder template ({folder}: ABI-L2-CMIPC; {product}; {scan})",
        },
        "products": {"type": "array", "minItems": 1, "items": PRODUCT},
        "satellite": {
            "type": "string",
            "pattern": r"^G\d{2}$",
            "description": "GOES platform as in ABI file names (G18, G19)",
        },
        "dqf_keep": {**_DQF, "description": "data-quality flag values whose pixels are kept"},
    },
    "required": ["products", "satellite"],
    # PostGIS cells are built from GRIB grids only
    "not": {"required": ["postgis"]},
}


def processing_level(product: str) -> str:
    """`L1b` for the radiances (Rad...), `L2` for every derived product."""
    return "L1b" if product.startswith("Rad") else "L2"


def bucket_folder(product: str) -> str:
    """The bucket folder of a product's files: `ABI-L2-CMIPC`; a mesoscale sector's files
    (`CMIPM1`, `RadM2`) share their product's folder (`ABI-L2-CMIPM`, `ABI-L1b-RadM`)."""
    sectorless = re.sub(r"M[12]$", "M", product)
    return f"ABI-{processing_level(product)}-{sectorless}"


class GoesAbi(ScanFamily):
    name = "goes_abi"
    format = "abi_netcdf"
    schema = SCHEMA
    # Cloud and moisture imagery, CONUS sector, every 5 minutes. Band 2 (0.64 um red, 0.5 km)
    # has 16x the pixels of bands 8 and 13 (2 km): both strides give about 4 km rows. Data-
    # quality flags 0 and 1 (good, conditionally usable) are kept. 12 scans a band an hour: a
    # short window keeps a scheduled DAG small.
    defaults = {
        "anonymous": True,
        "key": "{folder}/{scan:%Y}/{scan:%j}/{scan:%H}",
        "products": [
            {"product": "CMIPC", "variable": "CMI", "bands": [2], "stride": 8, "dqf_keep": [0, 1]},
            {
                "product": "CMIPC",
                "variable": "CMI",
                "bands": [8, 13],
                "stride": 2,
                "dqf_keep": [0, 1],
            },
        ],
        "window_hours": 1,
        "retention_hours": 24,
        "stale_after_hours": 2,  # scans every 5-10 minutes: two hours allow a missed or slow run
        "select": "all",
    }

    def __init__(self, name: str, src: dict):
        super().__init__(name, src)
        self.products: dict[str, dict] = {}
        for product in src["products"]:
            for band in product.get("bands") or [None]:
                step = product["product"] + (f"_C{band:02d}" if band is not None else "")
                self.products[step] = {**product, "band": band}
        self.steps = list(self.products)

    def folder(self, scan: datetime, step: str) -> str:
        product = self.products[step]["product"]
        return self.src["key"].format(scan=scan, product=product, folder=bucket_folder(product))

    def key(self, scan: datetime, step: str) -> str:
        """The hour folder: the file itself is found by listing (see the module notes)."""
        return self.folder(scan, step) + "/"

    def listing_prefixes(self, step: str, start: datetime, end: datetime) -> list[str]:
        hour = start.replace(minute=0, second=0, microsecond=0)
        prefixes = []
        while hour <= end:
            prefixes.append(self.key(hour, step))
            hour += timedelta(hours=1)
        return prefixes

    def name_pattern(self, step: str, scan: datetime | None = None) -> str:
        """A regex of this step's file names; with `scan`, of that scan's files only."""
        product = self.products[step]
        band = "" if product["band"] is None else f"C{product['band']:02d}"
        start = _STAMP.format("start")
        if scan is not None:
            start = f"(?P<start>{scan:%Y%j%H%M%S}\\d)"
        level = processing_level(product["product"])
        return (
            f"OR_ABI-{level}-{re.escape(product['product'])}-M\\d+{band}_"
            f"{re.escape(self.src['satellite'])}_s{start}_e{_STAMP.format('end')}"
            f"_c{_STAMP.format('created')}\\.nc"
        )

    def scan_time(self, step: str, key: str) -> datetime | None:
        """The scan start in a file name (to the second), or None when the name is not one of
        this step's."""
        match = re.fullmatch(self.name_pattern(step), posixpath.basename(key))
        if not match:
            return None
        stamp = match["start"]
        try:
            scan = datetime.strptime(stamp[:13], "%Y%j%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            return None
        return scan if scan.year == int(stamp[:4]) else None  # strptime takes day 366 of 2025

    def locate(self, scan: datetime, step: str) -> dict:
        return {"key": self.key(scan, step), "name_pattern": self.name_pattern(step, scan)}

    def select(self, step: str) -> list[str]:
        # a search string, as for GRIB: the variable read and the level it is filed under
        return [f":{self.products[step]['variable']}:{self.level(step)}:"]

    def level(self, step: str) -> str:
        product = self.products[step]
        band = product["band"]
        return f"band {band}" if band is not None else product.get("level", "surface")

    def shred_options(self, step: str) -> dict:
        """A product's own stride or bbox wins over the source's (band 2 has 16x the pixels of
        band 13); `dqf_keep` lists the data-quality flag values whose pixels are kept."""
        product = self.products[step]
        options = {k: product.get(k, self.src.get(k)) for k in (*SHRED_KEYS, "dqf_keep")}
        return {k: v for k, v in options.items() if v is not None}


FAMILY = GoesAbi
