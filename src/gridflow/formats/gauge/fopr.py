"""A gauge's full period of record with its metadata (gridflow.gauges.fopr): the metadata go
into the sidecar (`gauge`), and from there into the `gauges` tables of both stores."""

from __future__ import annotations

from pathlib import Path

from gridflow.formats.gauge.base import GaugeFormat


class McfcdFopr(GaugeFormat):
    name = "mcfcd_fopr"
    extension = "xlsx"
    media_types = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)

    def read(self, path: Path, origin: str):
        from gridflow.gauges import fopr

        gauge, readings = fopr.read(path, origin)
        return readings, {"gauge": gauge.as_dict()}


FORMAT = McfcdFopr
