"""The first hour, tried as a new user would: each mistake at the `ledgerbridge` command line gets a
message naming what is wrong (and the known alternatives) and a non-zero exit, never a traceback.

Every command runs as its own process, as typed in a terminal, against a fresh data dir (its SQLite
ledger) and the repository's registry; all of them at once, so the walk stays fast.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REGISTRY_IDS = ("acme_us", "globex_uk", "initech_desk", "stark_erp", "wayne_au")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LEDGERBRIDGE_DB_URL", "LEDGERBRIDGE_REGISTRY")}
    env.update(LEDGERBRIDGE_DATA_DIR=str(data_dir), PYTHONPATH=os.pathsep.join(
        (str(ROOT / "include"), str(ROOT / "plugins"))), **extra)
    return env


def _start(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ledgerbridge.cli", *argv], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out + err


# name: (command line, exit code, what the message must say)
MISTAKES = {
    "entry-files, an unknown entity": (
        ["entry-files", "acme_usa", "--out", "out", "--payables-account", "401000"], 1,
        ["no legal entity 'acme_usa'", "did you mean 'acme_us'?", *REGISTRY_IDS]),
    "entry-files, a month 13": (
        ["entry-files", "acme_us", "--out", "out", "--payables-account", "401000", "--from", "2026-13-01"], 2,
        ["argument --from", "'2026-13-01' is not a date YYYY-MM-DD", "month must be in 1..12"]),
    "entry-files, a date not ISO": (
        ["entry-files", "acme_us", "--out", "out", "--payables-account", "401000", "--to", "01/11/2026"], 2,
        ["argument --to", "'01/11/2026' is not a date YYYY-MM-DD"]),
    "entry-files, --from after --to": (
        ["entry-files", "acme_us", "--out", "out", "--payables-account", "401000", "--from", "2026-12-01",
         "--to", "2026-11-01"], 2, ["--from 2026-12-01 is after --to 2026-11-01"]),
    "entry-files, no such folder": (
        ["entry-files", "acme_us", "--out", "nowhere", "--payables-account", "401000"], 2,
        ["argument --out", "'nowhere' is not a folder"]),
    "entry-files fec-year, an unknown entity": (
        ["entry-files", "fec-year", "--entity", "acme_usa", "--closing-date", "2026-12-31", "--folder", "out"], 1,
        ["no legal entity 'acme_usa'"]),
    "entry-files fec-year, not an entry-files entity": (
        ["entry-files", "fec-year", "--entity", "acme_us", "--closing-date", "2026-12-31", "--folder", "out"], 1,
        ["acme_us is not an entry-files entity (accounting kind quickbooks_online)"]),
    "entry-files fec-year, a date not ISO": (
        ["entry-files", "fec-year", "--entity", "acme_us", "--closing-date", "31/12/2026", "--folder", "out"], 2,
        ["argument --closing-date", "'31/12/2026' is not a date YYYY-MM-DD"]),
    "entity repin, an unknown entity": (
        ["entity", "repin", "nope"], 1, ["no legal entity 'nope'", *REGISTRY_IDS]),
    "entity repin, an entity that never ran": (
        ["entity", "repin", "acme_us"], 1, ["'acme_us' has never run: nothing to re-pin"]),
    "match, a missing file": (
        ["match", "nope.csv", "accounting.csv", "--out", "pairs.csv"], 1, ["nope.csv", "No such file"]),
    "match, review above auto": (
        ["match", "hub.csv", "accounting.csv", "--out", "pairs.csv", "--auto", "0.7", "--review", "0.8"], 2,
        ["--review 0.8 is above --auto 0.7"]),
    "match, a score above 1": (
        ["match", "hub.csv", "accounting.csv", "--out", "pairs.csv", "--auto", "1.5"], 2,
        ["argument --auto", "'1.5' is not a score above 0 and at most 1"]),
    "match, no folder for --out": (
        ["match", "hub.csv", "accounting.csv", "--out", "nowhere/pairs.csv"], 2,
        ["argument --out", "no folder 'nowhere'"]),
    "quarantine list, an unknown entity": (
        ["quarantine", "list", "--entity", "acme_usa"], 1, ["no legal entity 'acme_usa'", *REGISTRY_IDS]),
    "quarantine list, an unknown dataset": (
        ["quarantine", "list", "--dataset", "bill"], 1,
        ["no dataset 'bill'", "did you mean 'bills'?", "invoices", "source.bills", "reference.account"]),
    "quarantine release, an unknown entity": (
        ["quarantine", "release", "acme_usa", "bills", "B-1", "--reason", "x"], 1, ["no legal entity 'acme_usa'"]),
    "quarantine release, nothing held": (
        ["quarantine", "release", "acme_us", "bills", "B-1", "--reason", "x"], 1,
        ["acme_us: no quarantine entry for bills 'B-1'"]),
    "quarantine dismiss, an unknown dataset": (
        ["quarantine", "dismiss", "acme_us", "bill", "B-1", "--reason", "x"], 1, ["no dataset 'bill'"]),
    "review list, an unknown entity": (
        ["review", "list", "--entity", "nope"], 1, ["no legal entity 'nope'", *REGISTRY_IDS]),
    "review reject, an unknown party": (
        ["review", "reject", "acme_us", "V-1"], 1, ["acme_us: no hub party 'V-1'"]),
    "review create, an unknown party": (
        ["review", "create", "acme_us", "V-1"], 1, ["acme_us: no hub party 'V-1'"]),
    "review create, through a file drop": (
        ["review", "create", "initech_desk", "V-1"], 1, ["file drop, which cannot create parties"]),
    "rejected retry, an unknown entity": (
        ["rejected", "retry", "acme_usa", "1"], 1, ["no legal entity 'acme_usa'", "did you mean 'acme_us'?"]),
    "rejected retry, no such record": (
        ["rejected", "retry", "acme_us", "7"], 1, ["acme_us: no outbox record #7"]),
    "rejected retry, not a number": (
        ["rejected", "retry", "acme_us", "B-1"], 2, ["argument outbox_id", "invalid int value: 'B-1'"]),
    "sandbox, which one": (
        ["sandbox"], 2, [f"ledgerbridge sandbox {name} --help" for name in
                         ("qbo", "syspro", "xero", "desktop-agent", "sftp")]),
    "sandbox, an unknown one": (
        ["sandbox", "quickbooks"], 2, ["no sandbox 'quickbooks'", "qbo, syspro, xero, desktop-agent, sftp"]),
    "registry check, a missing file": (
        ["registry", "check", "--file", "mine.yaml"], 1, ["registry mine.yaml", "No such file"]),
}

# What a person types right: the checks above refuse none of it.
RIGHT = {
    "rejected list, nothing refused": (["rejected", "list", "--entity", "wayne_au"], "0 refused records"),
    "quarantine list, known names": (
        ["quarantine", "list", "--entity", "acme_us", "--dataset", "source.bills"], "0 open quarantine entries"),
    "match, review equal to auto": (
        ["match", "hub.csv", "accounting.csv", "--out", "pairs.csv", "--auto", "0.8", "--review", "0.8"],
        "1 hub parties against 1: 1 auto"),
    "entry-files, a date range": (
        ["entry-files", "acme_us", "--out", "out", "--payables-account", "401000", "--from", "2026-11-01",
         "--to", "2026-11-30"], "acme_us: no approved document to export"),
}


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """Runs `db upgrade`, then every command of MISTAKES and RIGHT at once: name -> (exit code, output)."""
    home = tmp_path_factory.mktemp("first-hour")
    env = _env(home / "data")
    (home / "out").mkdir()
    for name in ("hub.csv", "accounting.csv"):
        (home / name).write_text("id,name\nV-1,Acme Widgets Inc\n", encoding="utf-8")
    code, output = _finish(_start(["db", "upgrade"], env, home))
    assert code == 0, output
    running = {name: _start(argv, env, home) for name, (argv, *_) in {**MISTAKES, **RIGHT}.items()}
    return {name: _finish(process) for name, process in running.items()}


@pytest.mark.parametrize("name", MISTAKES)
def test_a_mistake_gets_a_message_and_a_non_zero_exit(walk, name):
    _, code, said = MISTAKES[name]
    exit_code, output = walk[name]
    assert "Traceback" not in output
    assert exit_code == code, output
    for words in said:
        assert words in output


@pytest.mark.parametrize("name", RIGHT)
def test_what_is_typed_right_still_works(walk, name):
    _, said = RIGHT[name]
    exit_code, output = walk[name]
    assert (exit_code, "Traceback" in output) == (0, False), output
    assert said in output


def test_a_ledger_never_set_up_says_to_run_db_upgrade(tmp_path):
    code, output = _finish(_start(["quarantine", "list"], _env(tmp_path / "data"), tmp_path))
    assert "Traceback" not in output
    assert code == 1 and "ledgerbridge db upgrade" in output and "ledger.db" in output


def test_a_ledger_out_of_reach_is_named_without_its_password(tmp_path):
    env = _env(tmp_path, LEDGERBRIDGE_DB_URL="postgresql+psycopg2://lb:s3cret@127.0.0.1:1/ledger")
    code, output = _finish(_start(["review", "list"], env, tmp_path))
    assert "Traceback" not in output
    assert code == 1 and "cannot reach the ledger postgresql+psycopg2://lb:***@127.0.0.1:1/ledger" in output
    assert "s3cret" not in output
