"""Where a process's memory is, from /proc (Linux): the totals of `smaps_rollup` and the
resident pages of `smaps` by kind of mapping. Used by `serve_vs_mlflow.py --memory-trace`;
on its own:

    python benchmarks/procmem.py PID [PID ...]

Kinds of mapping: `heap` (glibc's main arena, `[heap]`), `stack` (the main thread's), and
anonymous mappings — a 64 MiB-aligned reservation is one of glibc's other malloc arenas
(`MALLOC_ARENA_MAX`), 8 MiB plus a guard page a thread's stack, the rest "anon": CPython's
pymalloc arenas (1 MiB each, but the kernel merges neighbours into one mapping, so their
total comes from `sys._debugmallocstats()`, not from here), Arrow's mimalloc pool, NumPy
buffers above glibc's mmap threshold — and file mappings by the package or library they
belong to (`site-packages/<name>`, else the file's name): code pages touched so far.
"""

from __future__ import annotations

import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")
_GLIBC_ARENA = 64 * 1024 * 1024


@dataclass(frozen=True)
class Rollup:
    """Totals of one process, in KiB (`/proc/<pid>/smaps_rollup`; `hwm` from `status`)."""

    rss: int
    pss: int
    anonymous: int
    lazy_free: int  # freed with MADV_FREE: counted in RSS until the kernel needs the pages
    hwm: int

    def mib(self) -> dict[str, float]:
        return {
            "rss_mib": self.rss / 1024,
            "pss_mib": self.pss / 1024,
            "anon_mib": self.anonymous / 1024,
            "lazy_free_mib": self.lazy_free / 1024,
            "peak_rss_mib": self.hwm / 1024,
        }


def _fields(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            out[name] = int(parts[0])
    return out


def rollup(pid: int) -> Rollup:
    """The process's totals; zeros if it is gone."""
    try:
        rolled = _fields(Path(f"/proc/{pid}/smaps_rollup").read_text())
        status = _fields(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return Rollup(0, 0, 0, 0, 0)
    return Rollup(
        rolled.get("Rss", 0),
        rolled.get("Pss", 0),
        rolled.get("Anonymous", 0),
        rolled.get("LazyFree", 0),
        status.get("VmHWM", 0),  # a zombie has none
    )


def _file_kind(path: str) -> str:
    marker = "site-packages/"
    if marker in path:
        rest = path.split(marker, 1)[1]
        return "lib " + rest.split("/", 1)[0].split(".libs", 1)[0].removesuffix(".py")
    return "file " + os.path.basename(path)


def by_kind(pid: int) -> dict[str, int]:
    """Resident KiB per kind of mapping (module docstring), largest first."""
    kinds: dict[str, int] = defaultdict(int)
    lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    mappings: list[tuple[int, int, str, dict[str, int]]] = []
    for line in lines:
        head = _HEADER.match(line)
        if head is not None:
            start, end = int(head.group(1), 16), int(head.group(2), 16)
            mappings.append((start, end, head.group(4).strip(), {}))
        elif mappings:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                mappings[-1][3][name] = int(parts[0])
    # glibc's other arenas: a 64 MiB-aligned reservation, split into a used (rw) part and
    # an unused (---p) part; whichever part starts on the 64 MiB boundary marks it
    arena_starts = {s for s, _, path, _ in mappings if not path and s % _GLIBC_ARENA == 0}
    for start, end, path, fields in mappings:
        rss = fields.get("Rss", 0)
        if not rss:
            continue
        size = (end - start) // 1024
        if path == "[heap]":
            kind = "heap (glibc main arena)"
        elif path == "[stack]":
            kind = "stack (main thread)"
        elif path.startswith("["):
            kind = path
        elif path:
            kind = _file_kind(path)
        elif start - start % _GLIBC_ARENA in arena_starts and size <= _GLIBC_ARENA // 1024:
            kind = "anon glibc arenas"
        elif size == 8192:
            kind = "anon 8 MiB (thread stacks)"
        else:
            kind = "anon (pymalloc, Arrow's pool, large buffers)"
        kinds[kind] += rss
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]))


def main(pids: list[int]) -> None:
    for pid in pids:
        r = rollup(pid)
        print(
            f"pid {pid}: RSS {r.rss / 1024:.1f} MiB, PSS {r.pss / 1024:.1f} MiB, anonymous "
            f"{r.anonymous / 1024:.1f} MiB (lazily freed {r.lazy_free / 1024:.1f}), peak RSS "
            f"{r.hwm / 1024:.1f} MiB"
        )
        for kind, kib in by_kind(pid).items():
            if kib >= 512:
                print(f"  {kib / 1024:8.1f} MiB  {kind}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]])
