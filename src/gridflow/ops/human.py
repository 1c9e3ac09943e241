"""Numbers and times for people, in one format wherever gridflow prints them: counts with
thousands separators, sizes in SI units, durations short (`45s`, `12m`, `2h05m`, `3d4h`), times
in UTC to the minute (to the second when a scan has seconds)."""

from __future__ import annotations

from datetime import UTC, datetime


def count(n: int | float) -> str:
    return f"{n:,.0f}"


def size(n: int | float) -> str:
    """Bytes as `512 B`, `3.4 kB`, `12.0 MB`, `1.2 GB` (powers of 1000)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """`45s`, `12m`, `2h05m`, `3d4h`: two units at most, the larger first."""
    sign, s = ("-" if seconds < 0 else ""), int(round(abs(seconds)))
    if s < 60:
        return f"{sign}{s}s"
    minutes = s // 60
    if minutes < 60:
        return f"{sign}{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d{hours}h"


def moment(when: datetime | str) -> str:
    """`2025-03-12 06:00Z` (`2025-03-12 11:32:05Z` when it has seconds)."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return when.strftime("%Y-%m-%d %H:%M:%SZ" if when.second else "%Y-%m-%d %H:%MZ")
