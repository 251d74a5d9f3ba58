"""Storage faults injected by tests into a real server process (docs/reliability.md).

`OPSLOOP_FAULTS` names a file; while it exists, each line `<point> <ERRNO>` (e.g.
`predlog.write ENOSPC`) makes `check(point)` raise that `OSError`, as the write at that
point would on a full disk (`ENOSPC`) or an unwritable folder (`EACCES`, which `chmod` cannot
provoke for root). Deleting the file ends the fault, so recovery is tested in the same
process. Without the variable `check` is one dictionary lookup. Points: `predlog.write` (a
Parquet file of the log), `predlog.journal` (a request-durability record),
`predlog.quarantine` (a quarantined batch).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

ENV = "OPSLOOP_FAULTS"


def check(point: str) -> None:
    """Raise the OSError the faults file names for `point`, if any."""
    path = os.environ.get(ENV)
    if not path:
        return
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:  # no file: no fault
        return
    for line in lines:
        name, _, code = line.strip().partition(" ")
        if name == point:
            number = getattr(errno, code.strip() or "EIO", errno.EIO)
            raise OSError(number, f"{os.strerror(number)} (injected at {point})")
