"""What families answer with (targets) and what they ask upstream through (a lister).

A target is one raw file a source has published (ready) or is expected to publish (waiting).
The lister is the only way a family looks upstream during planning: one listing per prefix per
run, HEAD requests where the location cannot be listed, and the settle time that keeps objects
still being written out of the plan.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridflow.net.transport import NotPublished, ObjectInfo, Remote


@dataclass(frozen=True)
class Target:
    source: str
    cycle: datetime
    step: int | str  # a forecast hour, or a product for scan sources
    expected_at: datetime
    why: str = ""  # for a waiting target: not due yet, not listed yet, or still being written


class Lister:
    """Upstream as one plan sees it."""

    def __init__(
        self,
        remote: Remote,
        settle_seconds: float = 0,
        cache_root: Path | None = None,
        keep: bool = False,
    ):
        self.remote = remote
        self.settle = timedelta(seconds=settle_seconds)
        self.cache_root = cache_root  # where complete cycles' listings are remembered
        # only a run that fetches writes what later runs trust; a preview (a plan, a dry run,
        # status) reads the remembered listings and writes nothing
        self.keep = keep
        self.wall = datetime.now(UTC)
        self._listings: dict[str, dict[str, ObjectInfo]] = {}

    @property
    def can_list(self) -> bool:
        return self.remote.can_list

    def list(self, prefix: str) -> dict[str, ObjectInfo]:
        """Objects directly under `prefix` ({} when the folder does not exist yet)."""
        if prefix not in self._listings:
            try:
                self._listings[prefix] = self.remote.list(prefix)
            except NotPublished:
                self._listings[prefix] = {}
        return self._listings[prefix]

    def present(self, keys: list[str], prefix: str) -> dict[str, ObjectInfo]:
        """Which of `keys` exist: one listing of `prefix`, or a HEAD each on plain HTTP."""
        if self.can_list:
            return self.list(prefix)
        found = {}
        for key in keys:
            with contextlib.suppress(NotPublished):
                found[key] = self.remote.head(key)
        return found

    def settled(self, info: ObjectInfo) -> bool:
        """Old enough not to be still being written upstream."""
        return not info.last_modified or self.wall - info.last_modified >= self.settle

    def _cache(self, path: str) -> Path | None:
        return self.cache_root / path if self.cache_root else None

    def remembered(self, path: str, steps: int) -> bool:
        """A complete cycle listed before (with this many steps): upstream is not asked again."""
        cache = self._cache(path)
        return bool(
            cache and cache.exists() and json.loads(cache.read_text()).get("steps") == steps
        )

    def remember(self, path: str, steps: int, keys: list[str]) -> None:
        cache = self._cache(path)
        if cache and self.keep:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"steps": steps, "keys": sorted(keys)}) + "\n")
