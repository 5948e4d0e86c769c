"""embtui.files: reading only regular files, and writes that are whole or nothing.

Real files, FIFOs, devices and links in tmp_path; a reader on the other end of a FIFO is a
real thread.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from embtui.errors import DataError, EmbtuiError
from embtui.files import regular_file, remove_stale_temporaries, write_atomically
from tests.helpers import zombie


def test_an_export_replaces_a_file_whole_and_keeps_its_permissions(tmp_path):
    target = tmp_path / "summary.md"
    target.write_text("old summary\n")
    target.chmod(0o640)
    write_atomically(target, "# new summary\n")
    assert target.read_text() == "# new summary\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]  # no temporary left


def test_an_export_that_fails_midway_leaves_the_old_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "summary.md"
    target.write_text("the summary of last week\n")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(EmbtuiError, match=r"summary.md: cannot write \(No space left on device\)"):
        write_atomically(target, "# a much longer new summary\n" * 1000)
    assert target.read_text() == "the summary of last week\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]


def test_a_fifo_is_written_in_place_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_atomically(fifo, "# summary\n")
    reader.join(10)
    assert received == [b"# summary\n"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_device_is_written_in_place_never_replaced(tmp_path):
    before = os.stat("/dev/null")
    assert write_atomically("/dev/null", "# summary\n") == Path("/dev/null")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_a_link_is_followed_and_stays_a_link(tmp_path):
    real = tmp_path / "reports" / "summary.md"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "latest.md"
    link.symlink_to(real)
    write_atomically(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new\n"


def test_a_link_to_this_process_stdout_writes_to_the_pipe(tmp_path):
    """`-o /dev/stdout` (a link to /proc/self/fd/1) in a real process whose stdout is a pipe:
    the bytes reach the pipe and nothing is created or replaced."""
    code = (
        "from embtui.files import write_atomically; "
        "write_atomically('/dev/stdout', 'through the pipe\\n')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "through the pipe\n"
    assert list(tmp_path.iterdir()) == []


def test_a_folder_is_refused_in_one_line(tmp_path):
    with pytest.raises(EmbtuiError, match=r"a folder; give a file name"):
        write_atomically(tmp_path, "x")


def test_temporaries_left_by_a_killed_writer_are_removed_and_a_live_ones_kept(tmp_path):
    target = tmp_path / "summary.md"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".summary.md.{dead.pid}.abc123.tmp"
    live = tmp_path / f".summary.md.{os.getpid()}.def456.tmp"
    other = tmp_path / f".notes.md.{dead.pid}.abc123.tmp"  # another file's: not ours to touch
    for path in (stale, live, other):
        path.write_text("half")
    write_atomically(target, "whole\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["summary.md", live.name, other.name]
    )
    remove_stale_temporaries(tmp_path / "notes.md")
    assert not other.exists()


def test_a_temporary_whose_writer_was_killed_but_not_reaped_is_removed(tmp_path):
    """A killed writer that nobody reaped is a zombie: it still answers kill(pid, 0), but it
    will never finish its file (the same rule as a store's dead owner)."""
    target = tmp_path / "summary.md"
    with zombie() as pid:
        stale = tmp_path / f".summary.md.{pid}.abc123.tmp"
        stale.write_text("half")
        remove_stale_temporaries(target)
        assert not stale.exists()


def test_regular_file_refuses_fifos_devices_folders_and_oversized_files(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * 101)
    cases = [
        (fifo, "fifo.json: a FIFO (named pipe), not a regular file"),
        ("/dev/zero", "/dev/zero: a character device, not a regular file"),
        (tmp_path, f"{tmp_path}: a folder, not a regular file"),
        (big, "big.json: 101 bytes, more than the 100 such a file can be"),
        (tmp_path / "none.json", "none.json: no such file"),
    ]
    for path, message in cases:
        with pytest.raises(DataError) as info:
            regular_file(path, max_bytes=100, error=DataError)
        assert message in str(info.value)
    assert regular_file(big, max_bytes=101) == big
