"""Write generated batches as canonical JSON Lines or CSV (either optionally gzipped) or Parquet.

Files are written beside their final name and renamed into place when
complete, so an interrupted run never leaves half a log. Output is
byte-identical for the same batches: gzip headers carry no time stamp and
no file name, Parquet carries no creation time.
"""

from __future__ import annotations

import gzip
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from chainmine.miner.generate.columns import Batch, encode_json
from chainmine.miner.generate.spec import GenerateError

FORMATS = ("jsonl", "csv", "parquet")
_SUFFIXES = (".jsonl.gz", ".json.gz", ".csv.gz", ".jsonl", ".json", ".csv", ".parquet", ".gz")
FIELDS = ("session_id", "ts", "seq", "tool", "args", "result", "success", "error", "duration_ms", "cost",
          "call_id", "agent", "user", "session_outcome")
"""Canonical record fields, in the order they are written."""

PARQUET_SCHEMA = pa.schema([
    ("session_id", pa.string()), ("ts", pa.string()), ("seq", pa.int64()), ("tool", pa.string()),
    ("args", pa.string()), ("result", pa.string()), ("success", pa.bool_()), ("error", pa.string()),
    ("duration_ms", pa.float64()), ("cost", pa.float64()), ("call_id", pa.string()), ("agent", pa.string()),
    ("user", pa.string()), ("session_outcome", pa.float64()),
])
"""Parquet (and CSV) columns; ``args`` and object or list results hold JSON text."""
LOG_VERSION = 2
"""Changes when the files written for one seed change (2: string results in Parquet are plain text)."""

CSV_HEADER = (",".join(FIELDS) + "\n").encode()
_CSV_OPTIONS = pcsv.WriteOptions(include_header=False)

def resolve_format(out: str | os.PathLike, fmt: str | None = None) -> tuple[str, bool]:
    """The output format and whether to gzip, from ``fmt`` or the file name.

    Examples
    --------
    >>> resolve_format("logs.jsonl.gz"), resolve_format("x.parquet"), resolve_format("x.log", "jsonl")
    (('jsonl', True), ('parquet', False), ('jsonl', False))
    >>> resolve_format("calls.csv"), resolve_format("calls.csv.gz")
    (('csv', False), ('csv', True))
    """
    name = Path(out).name.lower()
    gz = name.endswith(".gz")
    plain = name[:-3] if gz else name
    guessed = "parquet" if plain.endswith(".parquet") else "csv" if plain.endswith(".csv") else "jsonl"
    if fmt is None:
        return guessed, gz
    if fmt not in FORMATS:
        raise GenerateError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "parquet" and gz:
        raise GenerateError(f"{out}: Parquet is compressed already; drop the .gz suffix")
    if guessed != "jsonl" and fmt != guessed:
        raise GenerateError(f"{out}: the .{guessed} suffix does not match --format {fmt}; rename the file or drop --format")
    return fmt, gz


def truth_path_for(out: str | os.PathLike) -> Path:
    """Where the ground truth of ``out`` goes: the name without its log suffix, plus ``.truth.json``.

    Examples
    --------
    >>> truth_path_for("data/sample_logs.jsonl").as_posix()
    'data/sample_logs.truth.json'
    >>> truth_path_for("big.jsonl.gz").name
    'big.truth.json'
    """
    path = Path(out)
    name = path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".truth.json")


def jsonl_lines(batch: Batch) -> list[str]:
    """The batch's records as JSON text lines (no newline), fields in :data:`FIELDS` order.

    Ids, time stamps, tool, agent and user names come from the generator's own
    catalogues and never need escaping, so only arguments and error messages
    go through the JSON encoder here (results come encoded from the engine).

    Examples
    --------
    >>> from chainmine.miner.generate.engine import LogGenerator
    >>> line = jsonl_lines(next(LogGenerator(sessions=1, seed=2).batches()))[0]
    >>> list(json.loads(line)) == list(FIELDS)
    True
    """
    enc = encode_json
    return [f'{{"session_id":"{s}","ts":"{t}","seq":{q},"tool":"{tool}","args":{enc(a)},"result":{res},'
            f'"success":{"true" if ok else "false"},"error":{"null" if err is None else enc(err)},'
            f'"duration_ms":{d!r},"cost":{"null" if c is None else repr(c)},"call_id":"{cid}",'
            f'"agent":"{ag}","user":"{u}","session_outcome":{o!r}}}'
            for s, t, q, tool, a, res, ok, err, d, c, cid, ag, u, o in zip(
                batch.session_id, batch.ts, batch.seq, batch.tool, batch.args, _results(batch), batch.success,
                batch.error, batch.duration_ms, batch.cost, batch.call_id, batch.agent, batch.user,
                batch.session_outcome)]


def _results(batch: Batch) -> list[str]:
    return batch.result_json if batch.result_json is not None else [encode_json(r) for r in batch.result]


def _text_results(batch: Batch) -> list[str | None]:
    # A text column holds a string result as itself (ingest reads text as a string, and
    # parses it only when it holds an object or list); other results as JSON text.
    return [r if isinstance(r, str) or r is None else j for r, j in zip(batch.result, _results(batch))]


def arrow_table(batch: Batch) -> pa.Table:
    """The batch as an Arrow table with :data:`PARQUET_SCHEMA`.

    ``args`` and object or list results are JSON text, a string result is the string
    itself (as in :func:`csv_table`), so the Parquet log ingests to the calls of the
    JSON Lines log.

    Examples
    --------
    >>> from chainmine.miner.generate.engine import LogGenerator
    >>> arrow_table(next(LogGenerator(sessions=2, seed=2).batches())).schema == PARQUET_SCHEMA
    True
    """
    columns: dict[str, Any] = {name: getattr(batch, name) for name in FIELDS}
    columns["args"] = [None if a is None else encode_json(a) for a in batch.args]
    columns["result"] = _text_results(batch)
    return pa.table(columns, schema=PARQUET_SCHEMA)


def csv_table(batch: Batch) -> pa.Table:
    """The batch as the Arrow table its CSV is written from (:data:`PARQUET_SCHEMA` columns).

    A CSV cell has no type, and ingest reads a text cell the way it reads a JSON
    string: as text, parsed only when it holds a JSON object or list. So ``args``
    and non-string results are written as JSON text and a string result as itself,
    which ingest reads back to the calls the JSON Lines file holds (a number or
    true/false result would come back as text; the generator writes none).

    Examples
    --------
    >>> from chainmine.miner.generate.engine import LogGenerator
    >>> t = csv_table(next(LogGenerator(sessions=2, seed=2).batches()))
    >>> t.column_names == list(FIELDS)
    True
    """
    columns: dict[str, Any] = {name: getattr(batch, name) for name in FIELDS}
    columns["args"] = [None if a is None else encode_json(a) for a in batch.args]
    columns["result"] = _text_results(batch)
    return pa.table(columns, schema=PARQUET_SCHEMA)


def csv_rows(batch: Batch) -> bytes:
    """The batch as CSV rows (no header; fields in :data:`FIELDS` order, quoted where needed).

    Examples
    --------
    >>> from chainmine.miner.generate.engine import LogGenerator
    >>> csv_rows(next(LogGenerator(sessions=1, seed=1).batches()))[:1]
    b'"'
    """
    sink = pa.BufferOutputStream()
    pcsv.write_csv(csv_table(batch), sink, _CSV_OPTIONS)
    return sink.getvalue().to_pybytes()


@contextmanager
def _replace_when_done(out: Path) -> Iterator[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def encode_batch(batch: Batch, fmt: str) -> bytes | pa.Table:
    """What :func:`write_encoded` writes for one batch: JSON Lines or CSV bytes, or an Arrow table for Parquet.

    Examples
    --------
    >>> from chainmine.miner.generate.engine import LogGenerator
    >>> encode_batch(next(LogGenerator(sessions=1, seed=1).batches()), "jsonl")[:14]
    b'{"session_id":'
    """
    if fmt == "parquet":
        return arrow_table(batch)
    if fmt == "csv":
        return csv_rows(batch)
    return ("\n".join(jsonl_lines(batch)) + "\n").encode()


def write_encoded(parts: Iterable[tuple[bytes | pa.Table, int]], out: str | os.PathLike, fmt: str,
                  gz: bool = False) -> int:
    """Write encoded batches ``(payload, calls)`` to ``out`` in order; return the number of calls written.

    Examples
    --------
    >>> import tempfile, os
    >>> from chainmine.miner.generate.engine import LogGenerator
    >>> path = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> parts = ((encode_batch(b, "jsonl"), len(b)) for b in LogGenerator(sessions=2, seed=1).batches())
    >>> write_encoded(parts, path, "jsonl") > 0
    True
    """
    out = Path(out)
    written = 0
    try:
        with _replace_when_done(out) as tmp:
            if fmt == "parquet":
                with pq.ParquetWriter(tmp, PARQUET_SCHEMA, compression="zstd") as pw:
                    for table, calls in parts:
                        pw.write_table(table)
                        written += calls
            else:
                with open(tmp, "wb") as raw:
                    fh = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) if gz else raw
                    try:
                        if fmt == "csv":
                            fh.write(CSV_HEADER)
                        for data, calls in parts:
                            fh.write(data)
                            written += calls
                    finally:
                        if gz:
                            fh.close()
    except OSError as exc:
        raise GenerateError(f"cannot write {out}: {exc.strerror or exc}; choose another --out") from None
    return written


def write_truth(truth: dict[str, Any], path: str | os.PathLike) -> None:
    """Write the ground truth as indented JSON (stable key order).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.truth.json")
    >>> write_truth({"workflows": []}, p); json.load(open(p))
    {'workflows': []}
    """
    path = Path(path)
    try:
        with _replace_when_done(path) as tmp:
            tmp.write_text(json.dumps(truth, indent=2) + "\n")
    except OSError as exc:
        raise GenerateError(f"cannot write {path}: {exc.strerror or exc}; choose another --truth") from None
