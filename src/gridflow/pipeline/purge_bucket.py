"""The workflow's outputs in an S3 bucket (`profiles/s3`): what the purge needs to find and delete
them, and the guard that keeps the bucket alive.

Snakemake's S3 storage plugin moves every output to `<default-storage-prefix>/<path>` and deletes
the bucket when it removes the last object in it; a marker object outside the data root
(`.gridflow-keep`) means that never happens. The endpoint and keys are the plugin's own
environment variables (SNAKEMAKE_STORAGE_S3_ENDPOINT_URL, _ACCESS_KEY, _SECRET_KEY), so both
read the same bucket with the same credentials.
"""

from __future__ import annotations

import os
from datetime import timedelta
from urllib.parse import urlsplit

import obstore
from obstore.store import S3Store

from gridflow.errors import UsageError

KEEP = ".gridflow-keep"
ENV = "SNAKEMAKE_STORAGE_S3_"


class StorageError(UsageError):
    """A storage prefix that cannot be used."""


class Bucket:
    """One `s3://bucket[/prefix]`: keys below are relative to it."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise StorageError(f"{url}: the storage prefix must be s3://bucket[/prefix]")
        self.url = url.rstrip("/")
        kwargs = {"region": os.environ.get(f"{ENV}REGION") or "us-east-1"}
        endpoint = os.environ.get(f"{ENV}ENDPOINT_URL")
        if endpoint:
            kwargs.update(endpoint=endpoint, virtual_hosted_style_request=False)
        key, secret = os.environ.get(f"{ENV}ACCESS_KEY"), os.environ.get(f"{ENV}SECRET_KEY")
        if key and secret:
            kwargs.update(access_key_id=key, secret_access_key=secret)
        self.store = S3Store(
            parts.netloc,
            prefix=parts.path.strip("/") or None,
            client_options={"allow_http": True, "timeout": timedelta(seconds=60)},
            **kwargs,
        )

    def keep_alive(self) -> None:
        """Put the marker that keeps the bucket from ever being empty."""
        obstore.put(self.store, KEEP, b"gridflow: this object keeps the bucket alive\n")

    def children(self, folder: str) -> tuple[list[str], dict[str, int]]:
        """(sub-folders, {object: size}) directly under `folder`."""
        found = obstore.list_with_delimiter(self.store, folder.rstrip("/") + "/")
        return (
            [p.rstrip("/") for p in found["common_prefixes"]],
            {o["path"]: o["size"] for o in found["objects"]},
        )

    def tree(self, prefix: str) -> dict[str, int]:
        """Every object below `prefix` (a folder) or the object itself."""
        objects = {}
        for batch in obstore.list(self.store, prefix.rstrip("/") + "/"):
            objects.update({o["path"]: o["size"] for o in batch})
        return objects

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            obstore.delete(self.store, keys[start : start + 1000])
