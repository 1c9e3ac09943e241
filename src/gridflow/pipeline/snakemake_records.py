"""Snakemake's own records of the outputs the purge deletes, read and removed through
Snakemake's persistence (so its record names are never re-implemented here).

A record's key is the output as Snakemake knows it: the path as the rule spells it, or the
storage query (`s3://bucket/...`) with a storage profile.
"""

from __future__ import annotations

from pathlib import Path


def _persistence(workdir: Path):
    from snakemake.persistence.file import FilePersistence

    return FilePersistence(nolock=True, path=workdir / ".snakemake")


def recorded(workdir: Path, keys: list[str]) -> list[str]:
    """The keys Snakemake holds a metadata record for."""
    if not (workdir / ".snakemake" / "metadata").is_dir() or not keys:
        return []
    persistence = _persistence(workdir)
    return [key for key in keys if persistence._read_record(key) is not None]


def forget(workdir: Path, keys: list[str]) -> int:
    """Remove the records (and any incomplete marks) of `keys`; returns how many were removed."""
    if not (workdir / ".snakemake" / "metadata").is_dir():
        return 0
    persistence = _persistence(workdir)
    removed = 0
    for key in keys:
        persistence._unmark_incomplete(key)
        removed += bool(persistence._delete_record(key))
    return removed
