"""A gauge's live ALERT page, its readings in UTC (gridflow.gauges.alert_page)."""

from __future__ import annotations

from pathlib import Path

from gridflow.formats.gauge.base import GaugeFormat


class McfcdAlert(GaugeFormat):
    name = "mcfcd_alert"
    extension = "html"
    media_types = ("text/html",)

    def read(self, path: Path, origin: str):
        from gridflow.gauges import alert_page

        gauge, name, readings = alert_page.read(path, origin)
        return readings, {"gauge_name": name, "gauge_id": gauge}


FORMAT = McfcdAlert
