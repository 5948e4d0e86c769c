"""The console's output after the terminal is gone: writes that fail detach the terminal
(its descriptors then point at /dev/null) instead of raising into Textual's writer thread."""

from __future__ import annotations

import errno
import io
import os

from embtui.app.native_log import Output, Terminal


class HungUp(io.StringIO):
    """A terminal whose connection dropped: every write and flush fails as a pty's do."""

    def write(self, text: str) -> int:
        raise OSError(errno.EIO, "Input/output error")

    def flush(self) -> None:
        raise OSError(errno.EIO, "Input/output error")


def test_a_failed_write_detaches_the_terminal_and_drops_the_text():
    read_end, write_end = os.pipe()
    try:
        output = Output(HungUp(), Terminal((write_end,)))
        assert output.write("frame") == len("frame")  # dropped, no error
        assert os.readlink(f"/proc/self/fd/{write_end}") == os.devnull
        output.flush()  # fails underneath, says nothing
        assert output.getvalue() == ""  # everything else is the file's own
    finally:
        os.close(read_end)
        os.close(write_end)


def test_writes_reach_a_live_terminal():
    file = io.StringIO()
    output = Output(file, Terminal(()))
    assert output.write("frame") == 5
    output.flush()
    assert file.getvalue() == "frame"
