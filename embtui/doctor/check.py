"""The row every doctor check returns, and two helpers several checks share."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Check:
    """One row of the doctor's table."""

    name: str
    status: str  # OK, WARN or FAIL
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def size_text(n_bytes: int) -> str:
    """A file size as the rows show it: 42 bytes, 6.8 MB (powers of 1000)."""
    if n_bytes < 1000:
        return f"{n_bytes} bytes"
    scaled = float(n_bytes)
    for unit in ("KB", "MB", "GB"):
        scaled /= 1000
        if scaled < 1000 or unit == "GB":
            break
    return f"{scaled:.1f} {unit}"
