"""JSON Lines files are cut into chunks of whole lines; the cut must never lose, split or renumber a line."""

from __future__ import annotations

import gzip
import os
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainmine.miner.ingest.chunks as chunks
import chainmine.miner.ingest.slicing as slicing
from chainmine.miner.ingest import ingest_paths
from chainmine.miner.ingest.chunks import LineChunks, cut_points
from chainmine.miner.ingest.sources import open_source
from chainmine.miner.store import connect

# (byte-order marks have their own test: cuts step over them)
line_text = st.text(alphabet=st.characters(blacklist_characters="\r\n\ufeff", blacklist_categories=("Cs",)),
                    max_size=40)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(line_text, min_size=1, max_size=60), trailing=st.booleans(), target=st.integers(1, 200))
def test_chunks_partition_the_file_at_line_ends(tmp_path_factory, lines, trailing, target):
    path = tmp_path_factory.mktemp("cut") / "f.jsonl"
    data = "\n".join(lines).encode() + (b"\n" if trailing else b"")
    path.write_bytes(data)
    chunks = cut_points(path, target)
    if chunks is None:
        assert len(data) <= target + target // 4 or b"\n" not in data[target - 1:-1]
        return
    assert chunks[-1].size <= target + target // 4 or b"\n" not in data[chunks[-1].start + target - 1:-1]
    assert chunks[0].start == 0 and chunks[-1].end == len(data)
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))
    for c in chunks[:-1]:
        assert data[c.end - 1:c.end] == b"\n"
        # the cut is the first line end at or after the target size
        assert b"\n" not in data[c.start + target - 1:c.end - 1]


def test_chunks_stream_their_bytes_and_leave_nothing_behind(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"tool": "t", "seq": i}) + "\n" for i in range(10)))
    with LineChunks(open_source(path), lines=3, min_bytes=1) as parts:
        texts = []
        for chunk in parts.chunks:
            with parts.stream(chunk) as part:
                texts.append(open(part.local, "rb").read())
        # a reader that gives up (or never opens the pipe) does not hang the feeder
        with parts.stream(parts.chunks[0]):
            pass
        workdir = parts.workdir
    assert b"".join(texts) == path.read_bytes() and len(texts) > 2
    assert not workdir.exists()


def _store(tmp_path, name, paths):
    con = connect(tmp_path / f"{name}.duckdb")
    try:
        report = ingest_paths(con, paths)
        calls = con.execute("SELECT id, session_id, seq, tool, args::VARCHAR, line FROM calls_v ORDER BY line").fetchall()
        rejects = con.execute("SELECT line, reason FROM rejects ORDER BY line").fetchall()
        return (report.accepted, report.rejected, report.sessions), calls, rejects
    finally:
        con.close()


@pytest.mark.parametrize("compressed", [False, True])
def test_a_big_file_read_in_chunks_gives_the_store_read_whole(tmp_path, monkeypatch, compressed):
    """More than the 1 MB detection reads, so a gzip file is decompressed and cut too."""
    rows = []
    for i in range(6000):
        if i % 997 == 5:
            rows.append(b"not json")
        elif i % 1500 == 7:
            rows.append(b"\xff\xfe broken utf-8")
        else:
            rows.append(json.dumps({"session_id": f"s{i // 7}", "seq": i, "tool": f"t{i % 5}",
                                    "args": {"pad": "x" * 200, "i": i}}).encode())
    data = b"\n".join(rows) + b"\n"
    path = tmp_path / ("big.jsonl.gz" if compressed else "big.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)
    assert open_source(path).truncated
    whole = _store(tmp_path, "whole", [path])
    monkeypatch.setattr(slicing, "SLICE_ROWS", 1000)
    monkeypatch.setattr(chunks, "MIN_CHUNK_BYTES", 1)
    chunked = _store(tmp_path, "chunked", [path])
    assert chunked == whole
    assert whole[0][1] == 11 and [line for line, _ in whole[2]][:2] == [6, 8]


def _rec(i: int) -> bytes:
    return json.dumps({"session_id": f"s{i // 4}", "seq": i, "tool": f"t{i % 3}"}).encode()


@pytest.mark.parametrize("case", ["bom_mid", "blank_lines", "crlf", "no_final_newline", "bad_utf8"])
def test_odd_files_give_the_same_store_in_chunks_as_whole(tmp_path, monkeypatch, case):
    rows = [_rec(i) for i in range(30)]
    data = {
        "bom_mid": b"".join((b"\xef\xbb\xbf" if i % 5 == 0 and i else b"") + r + b"\n" for i, r in enumerate(rows)),
        "blank_lines": b"".join(r + b"\n" + (b"   \n\n" if i % 3 == 0 else b"") for i, r in enumerate(rows)),
        "crlf": b"".join(r + b"\r\n" for r in rows),
        "no_final_newline": b"\n".join(rows),
        "bad_utf8": b"".join(r + (b"\xe2\x82" if i % 4 == 1 else b"") + b"\n" for i, r in enumerate(rows)),
    }[case]
    path = tmp_path / f"{case}.jsonl"
    path.write_bytes(data)
    whole = _store(tmp_path, "whole", [path])
    for rows_per_slice in (2, 3, 5):
        monkeypatch.setattr(slicing, "SLICE_ROWS", rows_per_slice)
        monkeypatch.setattr(chunks, "MIN_CHUNK_BYTES", 1)
        assert _store(tmp_path, f"chunked{rows_per_slice}", [path]) == whole, rows_per_slice


def test_a_file_renamed_while_it_is_read_in_chunks_is_still_read(tmp_path):
    """The file is opened once: log rotation between planning and reading loses nothing and hangs nothing."""
    import duckdb

    from chainmine.miner.ingest.readers import ROWS, load_lines

    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join(_rec(i) + b"\n" for i in range(50)))
    con = duckdb.connect()
    with LineChunks(open_source(path), lines=5, min_bytes=1) as parts:
        path.rename(tmp_path / "a.jsonl.1")
        with parts.stream(parts.chunks[1]) as part:
            load_lines(con, part)
    assert con.execute(f"SELECT count(*) FROM {ROWS}").fetchone()[0] > 0


def test_a_file_cut_short_while_it_is_read_fails_in_one_line_and_stores_nothing(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from chainmine.miner.cli import cli

    path = tmp_path / "live.jsonl"
    path.write_bytes(b"".join(_rec(i) + b"\n" for i in range(40)))
    monkeypatch.setattr(slicing, "SLICE_ROWS", 10)
    monkeypatch.setattr(chunks, "MIN_CHUNK_BYTES", 1)
    streamed = chunks.LineChunks.stream

    def truncating(self, chunk):
        if chunk.start > 0:
            os.truncate(path, chunk.start)  # logrotate's copytruncate, mid-ingest
        return streamed(self, chunk)

    monkeypatch.setattr(chunks.LineChunks, "stream", truncating)
    db = tmp_path / "t.duckdb"
    result = CliRunner().invoke(cli, ["ingest", str(path), "--db", str(db), "--quiet"])
    assert result.exit_code == 1 and "changed while it was read" in result.output
    assert len(result.output.strip().splitlines()) == 1
    con = connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 0
    con.close()


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_big_gzip_file_is_handled_as_when_read_whole(tmp_path, monkeypatch, damage):
    from click.testing import CliRunner

    from chainmine.miner.cli import cli

    data = gzip.compress(b"".join(_rec(i) + b"," + b"x" * 300 + b"\n" for i in range(8000)))
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    else:
        data = data[:len(data) // 2] + bytes(64) + data[len(data) // 2 + 64:]
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(data)
    outcomes = []
    for chunked in (False, True):
        monkeypatch.setattr(chunks, "MIN_CHUNK_BYTES", 1 if chunked else 1 << 40)
        result = CliRunner().invoke(cli, ["ingest", str(path), "--db", str(tmp_path / f"{chunked}.duckdb"),
                                          "--quiet", "--json"])
        assert "Traceback" not in result.output and "Aborted" not in result.output
        outcomes.append((result.exit_code, result.output if result.exit_code else json.loads(result.stdout)["accepted"]))
    assert outcomes[0] == outcomes[1]
