"""Atomic writes, backups and the cross-process lock behind the library file."""

from __future__ import annotations

import os
import stat

import pytest

from chainmine.library.builder import WorkflowBuilder
from chainmine.library.errors import LibraryFileError
from chainmine.library.store.atomic import atomic_write_text, backup_path, file_lock, keep_backup, lock_path, read_json
from chainmine.library.store import WorkflowLibrary


def test_a_held_lock_makes_a_writer_give_up_with_a_clear_message_and_write_nothing(tmp_path):
    path = tmp_path / "w.json"
    lib = WorkflowLibrary(path, lock_timeout=0.05)
    with file_lock(path):
        with pytest.raises(LibraryFileError, match="locked by another process"):
            lib.register(WorkflowBuilder("a").add_step("s", "t").build())
    assert not path.exists()
    assert lock_path(path).name == "w.json.lock"
    lib.register(WorkflowBuilder("a").add_step("s", "t").build())
    assert "a" in lib


def test_atomic_write_replaces_content_keeps_permissions_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "w.json"
    atomic_write_text(path, "one")
    os.chmod(path, 0o600)
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json"]


def test_atomic_write_creates_missing_folders(tmp_path):
    path = tmp_path / "a" / "b" / "w.json"
    atomic_write_text(path, "x")
    assert path.read_text() == "x"


def test_backup_keeps_the_old_content_after_the_new_write(tmp_path):
    path = tmp_path / "w.json"
    keep_backup(path)  # nothing to keep yet
    assert not backup_path(path).exists()
    atomic_write_text(path, "old")
    keep_backup(path)
    atomic_write_text(path, "new")
    assert (path.read_text(), backup_path(path).read_text()) == ("new", "old")


@pytest.mark.parametrize("raw, fragment", [
    (b'{"a": 1,\n "b": }', "w.json:2:7: invalid JSON"),
    (b"\xff\xfe not utf-8", "not UTF-8"),
])
def test_read_json_reports_position_or_encoding(tmp_path, raw, fragment):
    path = tmp_path / "w.json"
    path.write_bytes(raw)
    with pytest.raises(LibraryFileError, match=fragment):
        read_json(path)


def test_read_json_of_a_missing_file_is_none(tmp_path):
    assert read_json(tmp_path / "missing.json") is None
