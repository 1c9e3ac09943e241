"""Decode a raw file field by field into a long Parquet table (one row per grid point).

The raw file's format (named in its sidecar) does the decoding; this module only streams the
tables into Parquet in row groups of about a million rows, so peak memory is a few fields
whatever the file size. A grid row names its field by index; the identities and the raw file's
lineage are the file's metadata (gridflow.rows), and `read_rows` gives the rows as stored.
Every field the inventory lists is written, or the shred fails: nothing is dropped silently,
and no two fields of one file may share an identity.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from gridflow import formats, inventory
from gridflow.errors import ShredError
from gridflow.pipeline.sidecar import Sidecar
from gridflow.rows import (
    FIELDS_KEY,
    LINEAGE_KEY,
    MAX_FIELDS,
    SCHEMA,
    as_stored,
    fields_metadata,
    identities_of,
    indexed,
)

__all__ = ["SCHEMA", "ShredError", "ShredOptions", "ShredStats", "read_rows", "shred"]


@dataclass(frozen=True)
class ShredOptions:
    """Per source: values that mean "missing" in-band (MRMS: -999, -99), a bounding box
    [west, south, east, north] and stride (one point in k x k) that choose the rows kept, and
    for ABI files the data-quality flag values whose pixels are kept (None: all)."""

    missing_values: tuple[float, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    stride: int = 1
    dqf_keep: tuple[int, ...] | None = None

    @classmethod
    def from_source(cls, src: dict) -> ShredOptions:
        bbox, dqf = src.get("bbox"), src.get("dqf_keep")
        return cls(
            tuple(src.get("missing_values", ())),
            tuple(bbox) if bbox else None,
            src.get("stride", 1),
            tuple(dqf) if dqf is not None else None,
        )


@dataclass(frozen=True)
class ShredStats:
    fields: int
    rows: int


# No dictionary pages and no statistics: the columns are coordinates and values (millions of
# distinct floats) and a run-length `field` index, and trying either cost 45% of a full disk.
PARQUET_OPTIONS = {"compression": "zstd", "use_dictionary": False, "write_statistics": False}

# Small fields are buffered into row groups of about this many rows: one tiny row group per
# field costs more to write than the field costs to decode.
ROW_GROUP_ROWS = 1_000_000


def _indexed(fields, raw: Path, seen: dict[tuple, tuple[int, str]]):
    """(index, field) of each field, its index the order its identity was first `seen` in,
    refusing a second field with the identity of an earlier, different one."""
    for field in fields:
        index, first = seen.setdefault(field.identity, (len(seen), field.label))
        if first != field.label:
            variable, level, forecast, descriptor, ref, step = field.identity
            raise ShredError(
                f"{raw}: fields {first!r} and {field.label!r} share one identity (variable "
                f"{variable}, level {level!r}, forecast {forecast!r}, descriptor "
                f"{descriptor!r}, reference {ref:%Y-%m-%dT%H:%M:%SZ}, step {step} min): "
                "their rows could not be told apart"
            )
        if index >= MAX_FIELDS:
            raise ShredError(f"{raw}: more than {MAX_FIELDS} fields in one file")
        yield index, field


def shred(
    raw: Path, idx: Path, sidecar: Path, out: Path, options: ShredOptions = ShredOptions()
) -> ShredStats:
    """Write `out` (Parquet) from `raw`; `out` appears only when every field is written."""
    meta = Sidecar.read(sidecar)
    entries = inventory.parse(idx.read_text(), str(idx))
    fmt = formats.get(meta.format)
    lineage = {"source": meta.source, "raw_file_id": meta.run_id, "raw_key": meta.raw_key}
    schema = fmt.table.schema.with_metadata({LINEAGE_KEY: json.dumps(lineage)})
    rows = 0
    seen: dict[tuple, tuple[int, str]] = {}  # identity -> (field index, label)
    pending: list[pa.Table] = []
    tmp = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with pq.ParquetWriter(tmp, schema, **PARQUET_OPTIONS) as writer:
            for index, field in _indexed(fmt.fields(raw, entries, options), raw, seen):
                table = indexed(field.table, index) if fmt.table.indexed else field.table
                pending.append(table)
                rows += table.num_rows
                if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending).unify_dictionaries())
                    pending = []
            if pending:
                writer.write_table(pa.concat_tables(pending).unify_dictionaries())
            if fmt.table.indexed:
                writer.add_key_value_metadata({FIELDS_KEY: fields_metadata(list(seen))})
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ShredStats(fields=len(entries), rows=rows)


def read_rows(path: Path) -> pa.Table:
    """A grid shred's rows as the store holds them: identity and lineage columns expanded."""
    file = pq.ParquetFile(path)
    metadata = file.metadata.metadata or {}  # the footer's: the field list is written last
    if FIELDS_KEY not in metadata or LINEAGE_KEY not in metadata:
        raise ShredError(f"{path}: not a gridflow grid shred (no field list or lineage)")
    lineage = json.loads(metadata[LINEAGE_KEY])
    return as_stored(file.read(), identities_of(metadata), lineage)
