"""Read objects from a source's location: `s3://bucket[/prefix]`, `file:///dir` or `http(s)://host/path`.

obstore does the work (retries with exponential backoff, timeouts, conditional ranged GETs); this
module only chooses the store from the URL and turns its failures into errors that name the URL.
Credentials for S3 come from the environment (AWS_* variables) and never appear in a URL we print.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import obstore
from obstore.store import HTTPStore, LocalStore, S3Store

from gridflow import pacing
from gridflow.errors import Unreachable


class TransportError(Unreachable):
    """A source that cannot be reached, or an object that is missing or changed under us."""


class NotPublished(TransportError):
    """The object does not exist (yet)."""


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


def _client_options(settings: Settings) -> dict:
    return {
        "timeout": timedelta(seconds=settings.timeout_seconds),
        "connect_timeout": timedelta(seconds=min(10.0, settings.timeout_seconds)),
        "allow_http": True,
    }


def _retry(settings: Settings) -> dict:
    return {
        "max_retries": settings.max_retries,
        "backoff": {
            "init_backoff": timedelta(milliseconds=200),
            "max_backoff": timedelta(seconds=20),
            "base": 2,
        },
        "retry_timeout": timedelta(minutes=3),
    }


def _info(meta) -> ObjectInfo:
    return ObjectInfo(meta["path"], meta["size"], meta.get("e_tag"), meta.get("last_modified"))


class Remote:
    """One source location. Keys are paths relative to the URL."""

    def __init__(self, url: str, settings: Settings | None = None, headers: dict | None = None):
        """`headers` go with every HTTP request (a service's bearer token: never logged)."""
        self.url = url.rstrip("/")
        self.settings = settings or Settings()
        parts = urlsplit(self.url)
        self.scheme = parts.scheme
        opts, retry = _client_options(self.settings), _retry(self.settings)
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
    def can_list(self) -> bool:
        """Plain HTTP servers have no listing API; their objects are probed one by one."""
        return self.scheme in ("s3", "file")

    def where(self, key: str) -> str:
        return f"{self.url}/{key}"

    def _fail(self, key: str, exc: Exception) -> TransportError:
        if isinstance(exc, (obstore.exceptions.NotFoundError, FileNotFoundError)):
            return NotPublished(f"{self.where(key)}: not found")
        if isinstance(exc, obstore.exceptions.PreconditionError):
            return TransportError(f"{self.where(key)}: the object changed while it was read")
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return TransportError(f"{self.where(key)}: {first_line}")

    def _turn(self):
        return pacing.turn(urlsplit(self.url).netloc or "local", self.settings.min_interval_seconds)

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
            if response.status_code >= 400:
                raise TransportError(f"{where}: {response.status_code} {response.reason}")
            written = 0
            for chunk in response.iter_content(1 << 16):
                written += len(chunk)
                if dest is not None:
                    dest.write(chunk)
        except requests.RequestException as exc:
            raise TransportError(f"{where}: {type(exc).__name__}") from None
        declared = response.headers.get("Content-Length")
        if declared is not None and int(declared) != written:
            raise TransportError(f"{where}: expected {declared} bytes and got {written}")
        return ObjectInfo(key, written, response.headers.get("ETag"), None)

    def head(self, key: str) -> ObjectInfo:
        with self._turn():
            if self._is_page(key):
                return self._page(key)
            try:
                return _info(obstore.head(self.store, key))
            except Exception as exc:
                raise self._fail(key, exc) from exc

    def list(self, prefix: str) -> dict[str, ObjectInfo]:
        """Objects directly under `prefix/` (one cheap request for S3 and local mirrors)."""
        try:
            with self._turn():
                found = obstore.list_with_delimiter(self.store, prefix.rstrip("/") + "/")
        except Exception as exc:
            raise self._fail(prefix, exc) from exc
        return {m["path"]: _info(m) for m in found["objects"]}

    def get_text(self, key: str) -> tuple[str, ObjectInfo]:
        try:
            with self._turn():
                result = obstore.get(self.store, key)
                data = bytes(result.bytes())
        except Exception as exc:
            raise self._fail(key, exc) from exc
        return data.decode("ascii", errors="replace"), _info(result.meta)

    def get_range(self, key: str, start: int, end: int, etag: str | None) -> bytes:
        """Bytes [start, end); fails if the object's ETag is no longer `etag`."""
        options: dict = {"range": (start, end)}
        if etag:
            options["if_match"] = etag
        try:
            with self._turn():
                data = bytes(obstore.get(self.store, key, options=options).bytes())
        except Exception as exc:
            raise self._fail(key, exc) from exc
        if len(data) != end - start:
            raise TransportError(
                f"{self.where(key)}: asked for bytes {start}-{end - 1} and got {len(data)} bytes "
                "(the body was cut short)"
            )
        return data

    def download(self, key: str, dest) -> ObjectInfo:
        """Stream the whole object into the open binary file `dest`."""
        with self._turn():
            if self._is_page(key):
                return self._page(key, dest)
            written = 0
            try:
                result = obstore.get(self.store, key)
                for chunk in result:
                    dest.write(chunk)
                    written += len(chunk)
            except Exception as exc:
                raise self._fail(key, exc) from exc
        info = _info(result.meta)
        if written != info.size:
            raise TransportError(
                f"{self.where(key)}: expected {info.size} bytes and got {written} "
                "(the body was cut short)"
            )
        return info
