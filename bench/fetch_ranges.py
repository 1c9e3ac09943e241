"""(a) Bytes fetched per byte selected, planning from a real GFS 0.25 degree `.idx`.

The object is a stand-in of the real file's size (the sample has the inventory, not the GRIB);
the ranged GETs are real reads through the same transport the fetch uses. Baselines: the sum of
the selected messages' sizes (the floor), one request per message, and the whole file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import SAMPLES, report
from gridflow import inventory
from gridflow.net.transport import Remote

SELECT = [
    ":TMP:2 m above ground:",
    ":(UGRD|VGRD):10 m above ground:",
    ":PRMSL:",
    ":APCP:",
    ":(HGT|TMP):500 mb:",
    ":RH:2 m above ground:",
]
LAST_MESSAGE_BYTES = 1_000_000  # the last message's length is not in the index


def main() -> None:
    entries = inventory.parse((SAMPLES / "gfs.20250801.t00z.pgrb2.0p25.f000.idx").read_text())
    size = entries[-1].offset + LAST_MESSAGE_BYTES
    msgs = inventory.messages(entries, size)
    chosen = inventory.select(msgs, SELECT)
    ranges = inventory.merge_ranges(chosen)
    with tempfile.TemporaryDirectory() as tmp:
        obj = Path(tmp) / "gfs.f000"
        with open(obj, "wb") as fh:
            fh.truncate(size)
        remote = Remote(f"file://{tmp}")
        fetched = sum(len(remote.get_range("gfs.f000", s, e, None)) for s, e in ranges)
    floor = sum(m.size for m in chosen)
    report(
        "fetch bytes fetched / bytes selected",
        fetched / floor,
        f"{fetched:,} of a {size:,}-byte file for {len(chosen)} messages; "
        f"{len(ranges)} requests instead of {len(chosen)}; whole file would be "
        f"{size / floor:.0f}x the floor",
    )


if __name__ == "__main__":
    main()
