"""MCFCD's monthly report of every gauge's daily rain, as PDF (gridflow.gauges.monthly_pdf)."""

from __future__ import annotations

from pathlib import Path

from gridflow.formats.gauge.base import GaugeFormat


class McfcdPdf(GaugeFormat):
    name = "mcfcd_pdf"
    extension = "pdf"
    media_types = ("application/pdf",)

    def read(self, path: Path, origin: str):
        from gridflow.gauges import monthly_pdf

        return monthly_pdf.read(path, origin), {}


FORMAT = McfcdPdf
