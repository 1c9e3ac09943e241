"""A gauge's live ALERT page (`showdata4.php?ID={gauge}`): the `<PRE>` table under a heading
line with the gauge id and name, lines `MM/DD/YYYY HH:MM:SS  cumulative  increment` newest
first, in Arizona time (MST all year), here converted to UTC. A row is written at 00, 06, 12
and 18 h and at every 0.04 in tip of the bucket; each is kept with its increment (`kind`
increment).
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from pathlib import Path

from gridflow.gauges.readings import GaugeFileError, Readings, arizona_to_utc, inches

PRE = re.compile(r"<pre[^>]*>(.*?)</pre>", re.IGNORECASE | re.DOTALL)
LINE = re.compile(r"^(\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2})\s+([\d.]+)\s+([\d.]+)\s*$")
HEADING = re.compile(r"^\s*(\d{3,6})\s+(\S.*?)\s*$")


def read(path: Path, where: str | None = None) -> tuple[int, str, Readings]:
    """(gauge, name, readings) of a captured page."""
    where = where or str(path)
    try:
        raw = path.read_text(errors="replace")
        text = html.unescape(re.sub(r"<(?!/?pre\b)[^>]*>", "", raw, flags=re.IGNORECASE))
    except OSError as exc:
        raise GaugeFileError(f"{where}: {exc}") from None
    heading = next((HEADING.match(line) for line in text.splitlines() if HEADING.match(line)), None)
    if heading is None:
        raise GaugeFileError(f"{where}: no line naming the gauge ('59700 Aztec Park')")
    gauge, name = int(heading[1]), heading[2]
    table = next((block for block in PRE.findall(text) if "inches" in block), None)
    if table is None:
        raise GaugeFileError(f"{where}: no table of readings (a <PRE> block with 'inches')")
    out = Readings(origin="alert_page", kind="increment")
    for number, line in enumerate(table.splitlines(), start=1):
        m = LINE.match(line.strip())
        if not m:
            continue
        local = datetime.strptime(m[1], "%m/%d/%Y %H:%M:%S")
        amount = inches(m[3], f"{where} table line {number}")
        out.add(gauge, local.date(), arizona_to_utc(local), amount)
    if not len(out):
        raise GaugeFileError(f"{where}: the table has no readings")
    return gauge, name, out
