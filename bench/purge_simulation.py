"""30 simulated days of a 6-hourly schedule with purge after every ingest (GFS, retention 24 h).

Prints the size of the data root and of `.snakemake` per simulated day; the figure is the final
size over the size on the day retention was first reached (1.0 = the archive stopped growing).
`python -m bench.purge_simulation DAYS` runs a shorter simulation.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.common import REPO, SAMPLES, report
from devkit import simulate

RETENTION_HOURS = 24


def main(days: int = 30) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        workdir, mirror = Path(tmp) / "work", Path(tmp) / "mirror"
        workdir.mkdir()
        mirror.mkdir()
        daily = []
        for i, step in enumerate(
            simulate.run_schedule(
                REPO / "Snakefile",
                workdir,
                mirror,
                f"file://{mirror}",
                SAMPLES,
                start,
                steps=days * 4,
                retention_hours=RETENTION_HOURS,
            )
        ):
            if step.run.returncode != 0:
                raise SystemExit(step.run.stderr[-3000:])
            if i % 4 == 3:
                data = simulate.folder_bytes(workdir / "data")
                meta = simulate.folder_bytes(workdir / ".snakemake")
                daily.append(data + meta)
                print(
                    f"  day {len(daily):2d}: data root {data / 1e6:7.2f} MB, "
                    f".snakemake {meta / 1e6:6.2f} MB",
                    flush=True,
                )
    settled = daily[RETENTION_HOURS // 24 + 1]
    report(
        "purge simulation final size / size once retention was reached",
        daily[-1] / settled,
        f"{days} days, {days * 4} runs",
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
