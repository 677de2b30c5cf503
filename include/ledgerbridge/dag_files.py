"""Which DAG file builds which DAG: the registry's DAGs are split over a fixed set of shard files.

One file building every entity's DAG does not scale: at 1,000 entities its import alone took a good
part of Airflow's `[core] dagbag_import_timeout` (30 s), the dag-processor cannot spread one file over
its parsing processes, and when that one import fails or times out every entity's DAG disappears.
So `dags/` holds N small files, `ledgerbridge_sync_<i>_of_<N>.py`; file i builds the DAGs whose id
hashes to i (CRC-32 of the DAG id, modulo N). The mapping depends only on the DAG id and N, never on
the registry's order or on the other entities: adding or removing an entity moves no other DAG, and a
worker told to run one task (Airflow's parsing context) knows at once whether a file holds its DAG.

N is a setting: `LEDGERBRIDGE_DAG_SHARDS` (default 16) is what `ledgerbridge-airflow dag-files`
writes; the files themselves carry their index and N in their names, so the dag-processor and every
worker, reading the same DAG folder, always agree (docs/operations.md, "Many legal entities").

No Airflow import here: the CLI and the tests use it too.
"""
from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SHARDS = 16
MAX_SHARDS = 999
PREFIX = "ledgerbridge_sync"
_NAME = re.compile(rf"^{PREFIX}_(\d{{2,3}})_of_(\d{{2,3}})\.py$")


def shards_setting() -> int:
    """`LEDGERBRIDGE_DAG_SHARDS`, else DEFAULT_SHARDS: how many files `ledgerbridge-airflow dag-files` writes."""
    raw = os.environ.get("LEDGERBRIDGE_DAG_SHARDS", "").strip()
    if not raw:
        return DEFAULT_SHARDS
    try:
        shards = int(raw)
    except ValueError:
        raise ValueError(f"LEDGERBRIDGE_DAG_SHARDS={raw!r} is not a whole number of DAG files") from None
    check_shards(shards)
    return shards


def check_shards(shards: int) -> None:
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"the number of DAG files must be between 1 and {MAX_SHARDS}, not {shards}")


def shard_of(dag_id: str, shards: int) -> int:
    """The shard (0..shards-1) whose file builds `dag_id`: stable across processes, machines and releases
    (CRC-32, not Python's salted hash())."""
    return zlib.crc32(dag_id.encode("utf-8")) % shards


def file_name(index: int, shards: int) -> str:
    width = max(2, len(str(shards)))
    return f"{PREFIX}_{index:0{width}d}_of_{shards:0{width}d}.py"


@dataclass(frozen=True)
class Shard:
    index: int
    shards: int

    @property
    def file_name(self) -> str:
        return file_name(self.index, self.shards)

    def holds(self, dag_id: str) -> bool:
        return shard_of(dag_id, self.shards) == self.index


def shard_of_file(path: str | os.PathLike) -> Shard:
    """The shard a DAG file builds, from its name (`ledgerbridge_sync_03_of_16.py`: 3 of 16)."""
    name = Path(path).name
    match = _NAME.fullmatch(name)
    if not match:
        raise ValueError(f"{name!r} is not a LedgerBridge DAG file name ({PREFIX}_<i>_of_<N>.py)")
    shard = Shard(int(match.group(1)), int(match.group(2)))
    check_shards(shard.shards)
    if shard.index >= shard.shards or name != shard.file_name:
        raise ValueError(f"{name!r} names shard {shard.index} of {shard.shards}: not a file "
                         "`ledgerbridge-airflow dag-files` writes")
    return shard


def dag_file_for(dag_id: str, shards: int) -> str:
    """The name of the file in dags/ that builds `dag_id`."""
    return file_name(shard_of(dag_id, shards), shards)


def shard_files(folder: str | os.PathLike) -> dict[str, Shard | None]:
    """Every LedgerBridge DAG file in `folder`, by name (None: a name that looks like one but is not valid)."""
    found: dict[str, Shard | None] = {}
    for name in sorted(os.listdir(folder)):
        if name.startswith(f"{PREFIX}") and name.endswith(".py"):
            try:
                found[name] = shard_of_file(name)
            except ValueError:
                found[name] = None
    return found


def layout_problem(folder: str | os.PathLike, shards: int, *, setting: bool = False) -> str | None:
    """What is wrong with the set of DAG files in `folder` for a split into `shards` files: a file missing
    (its entities would have no DAG) or one of another split (its entities would have two), else None.
    With `setting`, also a LEDGERBRIDGE_DAG_SHARDS that asks for another split than the files'."""
    if setting and os.environ.get("LEDGERBRIDGE_DAG_SHARDS", "").strip():
        try:
            wanted = shards_setting()
        except ValueError as exc:
            return f"{exc} (docs/operations.md)"
        if wanted != shards:
            return (f"LEDGERBRIDGE_DAG_SHARDS is {wanted} but the LedgerBridge DAG files in {folder} are a split "
                    f"into {shards}: apply the setting with `ledgerbridge-airflow dag-files` (docs/operations.md)")
    found = shard_files(folder)
    expected = {file_name(i, shards) for i in range(shards)}
    missing = sorted(expected - set(found))
    foreign = sorted(set(found) - expected)
    if not missing and not foreign:
        return None
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)} (the DAGs it builds do not exist)")
    if foreign:
        parts.append(f"{', '.join(foreign)} belong(s) to another split (their DAGs would be defined twice)")
    return (f"the LedgerBridge DAG files in {folder} are not one split into {shards}: " + "; ".join(parts)
            + ". Rewrite them with `ledgerbridge-airflow dag-files --shards N` (docs/operations.md)")


FILE_TEMPLATE = '''"""LedgerBridge DAGs, shard {index} of {shards}: the DAGs of the legal entities of the registry
(include/config/legal_entities.yaml) whose DAG id hashes to {index} (ledgerbridge.dag_files).

Airflow DAG file, wiring only. Written by `ledgerbridge-airflow dag-files --shards {shards}`: rewrite
the set with that command rather than editing, copying or deleting one file (docs/operations.md).
"""
from ledgerbridge_airflow.dag_factory import build_shard

build_shard(globals(), __file__)
'''


def write_dag_files(folder: str | os.PathLike, shards: int) -> list[str]:
    """Writes the `shards` DAG files into `folder` and removes LedgerBridge DAG files of any other split;
    one line per change."""
    check_shards(shards)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report = []
    wanted = {file_name(i, shards): FILE_TEMPLATE.format(index=i, shards=shards) for i in range(shards)}
    for name, text in wanted.items():
        path = folder / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.write_text(text, encoding="utf-8")
        report.append(f"wrote {path}")
    for name in shard_files(folder):
        if name not in wanted:
            (folder / name).unlink()
            report.append(f"removed {folder / name}")
    return report
