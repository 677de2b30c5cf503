"""What the benches share that is not about any one system: progress, a sped-up clock, a private data
folder, tables, and the targets' PASS/FAIL lines.

bench/ is a folder of scripts; a bench imports this module after putting its own folder on sys.path.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def scaled(base: Callable[[], float], speed: float) -> Callable[[], float]:
    """A clock that runs `speed` times faster than `base` from now on."""
    if speed == 1:
        return base
    origin = base()
    return lambda: origin + (base() - origin) * speed


def private_data_dir(prefix: str) -> tempfile.TemporaryDirectory:
    """A temporary folder as LEDGERBRIDGE_DATA_DIR (nothing may land in the project's data/), with warnings
    and above logged to stderr."""
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    os.environ["LEDGERBRIDGE_DATA_DIR"] = tmp.name  # nothing may land in the project's data/
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    return tmp


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_targets(checks: list[tuple[str, bool | None, str]]) -> int:
    """The targets section: PASS, FAIL or n/a (None) for each check. Returns the exit status: 1 on a FAIL."""
    print("\n== targets ==")
    for what, passed, measured in checks:
        print(f"   {'n/a ' if passed is None else 'PASS' if passed else 'FAIL'}  {what}: {measured}")
    return 1 if any(passed is False for _, passed, _ in checks) else 0
