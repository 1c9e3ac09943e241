"""Read objects from a source's location: `s3://bucket[/prefix]`, `file:///dir` or `http(s)://host/path`.

obstore does the requests (timeouts, conditional ranged GETs); this module chooses the store from
the URL, turns failures into errors that name the URL, and survives a misbehaving host: failures
that may pass (5xx, 429, connection reset, a body cut short, a stall past the timeout) are tried
again after a jittered back-off, up to `max_retries` times and counted; a host that keeps failing
trips its circuit breaker (gridflow.net.host_health); a server that ignores byte ranges, or answers
the wrong ones, is read whole once and the ranges cut from that. A 404 (or, anonymously, a 403:
S3's answer for a key it will not list) means not published yet. Requests to one host are kept
`min_interval_seconds` apart (gridflow.net.pacing). Credentials for S3 come from the environment
(AWS_* variables) and never appear in a URL we print.

`Host` is that retry loop, and the only one: the job services' API calls
(gridflow.net.service_http) go through it too.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import obstore
from obstore.store import HTTPStore, LocalStore, S3Store

from gridflow.errors import Unreachable
from gridflow.net import backoff, host_health, pacing

T = TypeVar("T")


class TransportError(Unreachable):
    """A source that cannot be reached, or an object that is missing or changed under us."""


class NotPublished(TransportError):
    """The object does not exist (yet)."""


class CircuitOpen(TransportError):
    """The host kept failing: its requests are paused until a cool-down has passed."""


class Transient(TransportError):
    """A failure that may pass: worth another try after a pause of at least `wait` seconds
    (a server's Retry-After)."""

    def __init__(self, message: str, wait: float = 0.0):
        super().__init__(message)
        self.wait = wait


class _RangesIgnored(TransportError):
    """The server answered a byte range with the whole object, or with other bytes."""


class _CutShort(Exception):
    """Fewer bytes arrived than the answer announced."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None
    last_modified: datetime | None


@dataclass(frozen=True)
class Settings:
    timeout_seconds: float = 60.0
    max_retries: int = 5
    anonymous: bool = True
    min_interval_seconds: float = 0.0  # between requests to the host (a small server's wish)
    breaker_failures: int = 8  # failed requests in a row that pause a host
    breaker_cooldown_seconds: float = 300.0  # how long it stays paused


def _client_options(settings: Settings) -> dict:
    return {
        "timeout": timedelta(seconds=settings.timeout_seconds),
        "connect_timeout": timedelta(seconds=min(10.0, settings.timeout_seconds)),
        "allow_http": True,
    }


# obstore tries once: the retries are ours, so that they are counted and share the breaker
NO_RETRY = {
    "max_retries": 0,
    "backoff": {"init_backoff": timedelta(milliseconds=1), "max_backoff": timedelta(seconds=1)},
    "retry_timeout": timedelta(seconds=1),
}


class Host:
    """Requests to one host, the one way gridflow makes them: each waits its turn (pacing),
    fails at once while the host's circuit is open, and is tried again after a failure that may
    pass (`Transient`), up to `max_retries` times, after a jittered back-off of at least the
    server's Retry-After. Retries are counted here (`retries`) and in the host's record."""

    def __init__(self, name: str, settings: Settings, health: host_health.Record | None = None):
        self.name = name
        self.settings = settings
        self.health = health or host_health.record()
        self.retries = 0

    def call(self, where: str, request: Callable[[], T]) -> T:
        """`request()`'s result; it raises `Transient` for a failure worth another try."""
        settings, health = self.settings, self.health
        for attempt in range(settings.max_retries + 1):
            why = health.paused(self.name)
            if why:
                raise CircuitOpen(f"{where}: {why}")
            try:
                with pacing.turn(self.name, settings.min_interval_seconds):
                    result = request()
            except NotPublished:
                health.succeeded(self.name)  # the host answered
                raise
            except Transient as error:
                opened = health.failed(
                    self.name,
                    str(error),
                    settings.breaker_failures,
                    settings.breaker_cooldown_seconds,
                )
                if opened:
                    raise CircuitOpen(
                        f"{error}; {self.name} paused for {settings.breaker_cooldown_seconds:g} s "
                        f"after {settings.breaker_failures} failures in a row"
                    ) from None
                if attempt == settings.max_retries:
                    raise TransportError(f"{error} (tried {attempt + 1} times)") from None
                self.retries += 1
                health.retried(self.name)
                time.sleep(backoff.pause(attempt, error.wait))
                continue
            health.succeeded(self.name)
            return result
        raise AssertionError("unreachable")


def _info(meta) -> ObjectInfo:
    return ObjectInfo(meta["path"], meta["size"], meta.get("e_tag"), meta.get("last_modified"))


class Remote:
    """One source location. Keys are paths relative to the URL."""

    def __init__(
        self,
        url: str,
        settings: Settings | None = None,
        headers: dict | None = None,
        health: host_health.Record | None = None,
    ):
        """`headers` go with every HTTP request (a service's bearer token: never logged);
        `health` is the hosts' record (gridflow.net.host_health.folder's by default)."""
        self.url = url.rstrip("/")
        self.settings = settings or Settings()
        parts = urlsplit(self.url)
        self.scheme = parts.scheme
        self.host = parts.netloc or "local"
        self._host = Host(self.host, self.settings, health)
        self._whole: dict[str, object] = {}  # objects read whole: their ranges are cut from it
        opts, retry = _client_options(self.settings), NO_RETRY
        if parts.scheme == "s3":
            endpoint = os.environ.get("GRIDFLOW_S3_ENDPOINT_URL") or os.environ.get(
                "AWS_ENDPOINT_URL"
            )
            kwargs = {"region": os.environ.get("AWS_REGION", "us-east-1")}
            if endpoint:
                kwargs.update(endpoint=endpoint, virtual_hosted_style_request=False)
            if self.settings.anonymous:
                kwargs["skip_signature"] = True
            self.store = S3Store(
                parts.netloc,
                prefix=parts.path.strip("/") or None,
                client_options=opts,
                retry_config=retry,
                **kwargs,
            )
        elif parts.scheme == "file":
            root = Path(parts.path)
            if not root.is_dir():
                raise TransportError(f"{self.url}: no such directory")
            self.store = LocalStore(root)
        elif parts.scheme in ("http", "https"):
            if headers:
                opts["default_headers"] = headers
            self.store = HTTPStore.from_url(self.url, client_options=opts, retry_config=retry)
        else:
            raise TransportError(
                f"{url}: unsupported URL scheme {parts.scheme!r} (use s3://, file:// or http(s)://)"
            )

    @property
    def retries(self) -> int:
        """Requests tried again, for the sidecar and the metrics."""
        return self._host.retries

    @property
    def can_list(self) -> bool:
        """Plain HTTP servers have no listing API; their objects are probed one by one."""
        return self.scheme in ("s3", "file")

    def where(self, key: str) -> str:
        return f"{self.url}/{key}"

    def _fail(self, key: str, exc: Exception) -> TransportError:
        """The error a failed request means, named by the URL; Transient when worth a retry."""
        where, errors = self.where(key), obstore.exceptions
        if isinstance(exc, TransportError):
            return exc
        if isinstance(exc, (errors.NotFoundError, FileNotFoundError)):
            return NotPublished(f"{where}: not found")
        if isinstance(exc, errors.PermissionDeniedError) and self.settings.anonymous:
            return NotPublished(f"{where}: 403 forbidden (not published yet, or not public)")
        if isinstance(exc, errors.PreconditionError):
            return TransportError(f"{where}: the object changed while it was read")
        if isinstance(exc, _CutShort):
            return Transient(f"{where}: {exc} (the body was cut short)")
        text = str(exc).strip()
        first_line = text.splitlines()[0] if text else type(exc).__name__
        # obstore says "Requested a..b, got c..d" of a wrong Content-Range
        if isinstance(exc, errors.NotSupportedError) or "Requested " in first_line:
            return _RangesIgnored(f"{where}: byte ranges not honoured ({first_line})")
        status = re.search(r"status code: (\d{3})", first_line)
        refused = status and status[1].startswith("4") and status[1] not in ("408", "429")
        if refused or isinstance(exc, (errors.PermissionDeniedError, errors.UnauthenticatedError)):
            return TransportError(f"{where}: {first_line}")  # asking again would get the same
        if isinstance(exc, (errors.GenericError, ConnectionError, TimeoutError)):
            return _transient(f"{where}: {first_line}")
        return TransportError(f"{where}: {first_line}")

    def _call(self, key: str, request: Callable[[], object]):
        """`request()`'s result, its failures named by the URL and tried again by the host."""

        def named():
            try:
                return request()
            except Exception as exc:
                raise self._fail(key, exc) from None

        return self._host.call(self.where(key), named)

    def _is_page(self, key: str) -> bool:
        """A dynamic page (`showdata4.php?ID=...`): obstore would encode its `?` into the path."""
        return self.scheme in ("http", "https") and "?" in key

    def _page(self, key: str, dest=None) -> ObjectInfo:
        """GET a page with its query string; write the body to `dest` when given."""
        import requests

        where = self.where(key)
        try:
            response = requests.get(where, timeout=self.settings.timeout_seconds, stream=True)
            if response.status_code == 404:
                raise NotPublished(f"{where}: not found")
            if response.status_code == 429 or response.status_code >= 500:
                raise _transient(f"{where}: {response.status_code} {response.reason}")
            if response.status_code >= 400:
                raise TransportError(f"{where}: {response.status_code} {response.reason}")
            written = _restart(dest)
            for chunk in response.iter_content(1 << 16):
                written += len(chunk)
                if dest is not None:
                    dest.write(chunk)
        except requests.RequestException as exc:
            raise Transient(f"{where}: {type(exc).__name__}") from None
        declared = response.headers.get("Content-Length")
        if declared is not None and int(declared) != written:
            raise _CutShort(f"expected {declared} bytes and got {written}")
        return ObjectInfo(key, written, response.headers.get("ETag"), None)

    def head(self, key: str) -> ObjectInfo:
        if self._is_page(key):
            return self._call(key, lambda: self._page(key))
        return self._call(key, lambda: _info(obstore.head(self.store, key)))

    def list(self, prefix: str) -> dict[str, ObjectInfo]:
        """Objects directly under `prefix/` (one cheap request for S3 and local mirrors)."""
        found = self._call(
            prefix, lambda: obstore.list_with_delimiter(self.store, prefix.rstrip("/") + "/")
        )
        return {m["path"]: _info(m) for m in found["objects"]}

    def get_text(self, key: str) -> tuple[str, ObjectInfo]:
        def request():
            result = obstore.get(self.store, key)
            return bytes(result.bytes()), result.meta

        data, meta = self._call(key, request)
        return data.decode("ascii", errors="replace"), _info(meta)

    def get_range(self, key: str, start: int, end: int, etag: str | None) -> bytes:
        """Bytes [start, end); fails if the object's ETag is no longer `etag`."""
        options: dict = {"range": (start, end)}
        if etag:
            options["if_match"] = etag

        def request() -> bytes:
            data = bytes(obstore.get(self.store, key, options=options).bytes())
            if len(data) != end - start:
                raise _CutShort(f"asked for bytes {start}-{end - 1} and got {len(data)} bytes")
            return data

        if key not in self._whole:
            try:
                return self._call(key, request)
            except _RangesIgnored:
                self._whole[key] = self._read_whole(key, etag)
        whole = self._whole[key]
        whole.seek(start)
        data = whole.read(end - start)
        if len(data) != end - start:
            raise TransportError(
                f"{self.where(key)}: bytes {start}-{end - 1} are past the object's end"
            )
        return data

    def _read_whole(self, key: str, etag: str | None):
        """The whole object in a temporary file (deleted when closed, at the latest when this
        Remote goes), for a server that does not honour byte ranges."""
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (kept open: later ranges read it)
        options = {"if_match": etag} if etag else {}
        self._call(key, lambda: self._stream(key, spool, options))
        return spool

    def _stream(self, key: str, dest, options: dict | None = None) -> ObjectInfo:
        """One GET of the whole object into `dest`, from its start (a retry rewrites it)."""
        written = _restart(dest)
        result = obstore.get(self.store, key, options=options or {})
        for chunk in result:
            dest.write(chunk)
            written += len(chunk)
        info = _info(result.meta)
        if written != info.size:
            raise _CutShort(f"expected {info.size} bytes and got {written}")
        return info

    def download(self, key: str, dest) -> ObjectInfo:
        """Stream the whole object into the open binary file `dest`."""
        if self._is_page(key):
            return self._call(key, lambda: self._page(key, dest))
        return self._call(key, lambda: self._stream(key, dest))


def _transient(message: str) -> Transient:
    """A 429 asks for a pause: obstore does not show its Retry-After, so wait at least 1 s."""
    return Transient(message, 1.0 if " 429 " in message else 0.0)


def _restart(dest) -> int:
    """Empty `dest` for another try of a download; returns the bytes it now holds (0)."""
    if dest is not None:
        dest.seek(0)
        dest.truncate()
    return 0
