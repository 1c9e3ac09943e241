"""ECMWF open data: a family in one module and one YAML. Its JSON-lines `.index` chooses the
fields, the ranged fetch takes only their bytes, and the rows equal eccodes' decode."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import eccodes
import numpy as np
import pytest
import yaml
from tests_support import REPO

from devkit.grib_restamp import restamp
from devkit.simulate import run_snakemake
from gridflow.formats.grib.frames import frames
from gridflow.inventory import InventoryError
from gridflow.sinks import clickhouse
from gridflow.sources.ecmwf_open_data import EcmwfOpenData

SAMPLE = "ecmwf-ifs-oper-surface.grib2"
KEY = "{cycle:%Y%m%d}/{cycle:%H}z/ifs/0p25/oper/{cycle:%Y%m%d%H}0000-{step}h-oper-fc.grib2"
CYCLE = datetime(2025, 3, 12, 0, tzinfo=UTC)


def _index_line(message: bytes, offset: int) -> str:
    h = eccodes.codes_new_from_message(message)
    try:
        keys = ("date", "time", "type", "stream", "step", "levtype", "param")
        field = {k: str(eccodes.codes_get(h, "shortName" if k == "param" else k)) for k in keys}
    finally:
        eccodes.codes_release(h)
    return json.dumps({**field, "_offset": offset, "_length": len(message)})


def write_ecmwf_object(samples, bucket, cycle: datetime, step: int) -> None:
    """The sample re-dated to `cycle` + `step`, with the JSON index ECMWF publishes."""
    data = (samples / SAMPLE).read_bytes()
    messages = [restamp(data[f.offset : f.offset + f.length], cycle, step) for f in frames(data)]
    target = bucket / KEY.format(cycle=cycle, step=step)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"".join(messages))
    offsets = np.cumsum([0] + [len(m) for m in messages])
    lines = [_index_line(m, int(o)) for m, o in zip(messages, offsets, strict=False)]
    target.with_suffix(".index").write_text("\n".join(lines) + "\n")


def test_the_index_refuses_lines_it_cannot_place():
    ok = '{"param": "2t", "_offset": 0, "_length": 10}\n'
    ok += '{"param": "msl", "_offset": 10, "_length": 5}'
    assert [m.end for m in EcmwfOpenData.parse_index(ok, 15, "i")] == [10, 15]
    with pytest.raises(InventoryError, match="overlaps another or overruns"):
        EcmwfOpenData.parse_index(ok, 12, "i")
    with pytest.raises(InventoryError, match="line 1 is not an index line"):
        EcmwfOpenData.parse_index('{"param": "2t"}', 12, "i")


@pytest.mark.slow
def test_selected_fields_load_equal_to_eccodes(samples, tmp_path):
    bucket = tmp_path / "ecmwf-forecasts"
    for step in (0, 3):
        write_ecmwf_object(samples, bucket, CYCLE, step)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "now": "2025-03-12T12:00:00Z",
                "data_root": "data",
                "sources_enabled": ["ecmwf"],
                "fetch": {"settle_seconds": 0},
                "sources": {
                    "ecmwf": {
                        "url": f"file://{bucket}",
                        "forecast_hours": "0,3",
                        "window_hours": 12,
                        "select": [":sd:sfc:", ":tcc:sfc:"],
                    }
                },
            }
        )
    )
    run = run_snakemake(REPO / "Snakefile", tmp_path, "--configfile", str(cfg))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "gridflow plan: 2 file(s) published" in run.stderr
    sidecar = json.loads(
        (tmp_path / "data/cycles/ecmwf/2025031200/raw/f003.grib2.json").read_text()
    )
    # sd and tcc are the last two messages, side by side: one range, nothing else
    assert sidecar["byte_ranges"] == [[1419502, 2139605]] and sidecar["messages"] == 2
    client = clickhouse.connect(f"chdb://{tmp_path}/data/clickhouse")
    try:
        counts = client.query(
            "SELECT step, count() FROM grid_data GROUP BY step ORDER BY step"
        ).result_rows
        got = client.query(
            "SELECT value FROM grid_data WHERE step = 180 AND variable = 'tcc' "
            "ORDER BY lat DESC, lon"
        ).result_rows
    finally:
        client.close()
    assert counts == [(0, 2 * 1440 * 721), (180, 2 * 1440 * 721)]
    data = (samples / SAMPLE).read_bytes()
    last = frames(data)[-1]
    h = eccodes.codes_new_from_message(data[last.offset :])
    want = eccodes.codes_get_values(h).astype(np.float32)
    lats, lons = eccodes.codes_get_array(h, "latitudes"), eccodes.codes_get_array(h, "longitudes")
    eccodes.codes_release(h)
    order = np.lexsort((((lons + 180) % 360) - 180, -lats))
    assert np.array_equal(np.array([r[0] for r in got], dtype=np.float32), want[order])
