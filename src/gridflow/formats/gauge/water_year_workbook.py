"""MCFCD's water-year workbook of every gauge's daily rain (gridflow.gauges.water_year_workbook)."""

from __future__ import annotations

from pathlib import Path

from gridflow.formats.gauge.base import GaugeFormat


class McfcdWorkbook(GaugeFormat):
    name = "mcfcd_workbook"
    extension = "xlsx"
    media_types = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)

    def read(self, path: Path, origin: str):
        from gridflow.gauges import water_year_workbook

        return water_year_workbook.read(path, origin), {}


FORMAT = McfcdWorkbook
