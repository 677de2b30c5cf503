"""The full-year FEC without a person at the command line: the `fiscal_year_fec` step writes the FEC of
each fiscal year an entry-files entity ended and its accountant closed, through the entity's own folder
or SFTP server (the embedded server everywhere, OpenSSH's sshd where installed), once: the next run says
"already written"; a year not closed waits and says why; no SIREN is skipped, saying what to set; another
kind of entity has nothing to do. And `ledgerbridge entry-files fec-year` without --folder, through the
entity's Airflow connection."""
from __future__ import annotations

import json
import logging
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from ledgerbridge.cli import main
from ledgerbridge.connectors.entryfiles import reference_csv
from ledgerbridge.connectors.factory import ConnectionSettings, build_connector
from ledgerbridge.entryfiles.fec import validate_fec
from ledgerbridge.flows.errors import FiscalYearFecRefused
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import SyncRun
from ledgerbridge.pipeline import RunContext, RunParams, run_all, run_step
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.sftp import serve_in_thread
from ledgerbridge.settings import PROJECT_ROOT
from sshd import running_sshd

ENTITY, CONN_ID, SIREN = "martin_fr", "files_martin_fr", "732829320"
DEMO = yaml.safe_load((PROJECT_ROOT / "include" / "config" / "demo_data.yaml").read_text())["entities"][ENTITY]
FEC_2025, FEC_2026 = f"{SIREN}FEC20251231.txt", f"{SIREN}FEC20261231.txt"
IN_2027 = datetime(2027, 1, 15, 4, 0, tzinfo=UTC)  # both years ended


def _entity_data(**entry_files) -> dict:
    return {"id": ENTITY, "name": "Boulangerie Martin SARL", "base_currency": "EUR",
            "accounting": {"kind": "entry_files", "conn_id": CONN_ID,
                           "entry_files": {"format": "fec", "payables_account": "401000",
                                           "receivables_account": "411000", **entry_files}},
            "flows": ["reference", "parties", "bills", "journal_entries"],
            "matching": {"create_missing_vendors": True, "create_missing_customers": True}}


def _entity(**entry_files) -> LegalEntity:
    return LegalEntity.model_validate(_entity_data(**entry_files))


def _write_reference(root: Path) -> None:
    folder = root / ENTITY / "reference"
    folder.mkdir(parents=True)
    for name, rows in DEMO["reference"].items():
        (folder / f"{name}.csv").write_text(reference_csv(rows), encoding="utf-8")


@contextmanager
def _transport(kind: str, tmp_path: Path):
    """The accountant's folder on disk, and the connection reaching it: the folder itself (local_root),
    the embedded SFTP server, or OpenSSH's sshd (skipped where it is not installed)."""
    if kind == "sshd":
        with running_sshd(tmp_path / "sshd") as sshd:
            _write_reference(sshd.root)
            yield sshd.root, ConnectionSettings(CONN_ID, host=sshd.host, port=sshd.port, login=sshd.user, extra={
                "key_file": str(sshd.client_key), "host_key": sshd.host_key_line, "root": str(sshd.root)})
        return
    root = tmp_path / "accountant"
    root.mkdir()
    _write_reference(root)
    if kind == "local":
        yield root, ConnectionSettings(CONN_ID, extra={"local_root": str(root)})
        return
    server = serve_in_thread(root, users={"accountant": "files-secret"}, host_key_path=tmp_path / "host_key")
    try:
        yield root, ConnectionSettings(CONN_ID, host=server.host, port=server.port, login="accountant",
                                       password="files-secret", extra={"root": "/", "host_key": server.host_key_line})
    finally:
        server.stop()


def _context(ledger, conn, entity: LegalEntity, now: datetime | None = None, dry_run: bool = False) -> RunContext:
    options = {"now": lambda: now} if now else {}
    return RunContext(entity=entity, ledger=ledger, run_id=f"test__{uuid.uuid4().hex[:8]}",
                      params=RunParams(dry_run=dry_run),
                      connect=lambda: build_connector(entity, conn, ledger, **options),
                      log=logging.getLogger(f"ledgerbridge.test.{ENTITY}"))


def _two_years_written(ledger, conn) -> None:
    """A bill of December 2025 and two of November 2026 written as entry files, the books still open."""
    entity = _entity(siren=SIREN)
    hub = DEMO["hub"]
    last_year = dict(hub["bills"][0], hub_id="B-4999", doc_number="MP-2025-1299", doc_date="2025-12-20")
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": hub["vendors"], "bills": [*hub["bills"][:2], last_year]})
    summaries = run_all(_context(ledger, conn, entity))
    assert summaries["export_documents"]["confirmed"] == 3
    # The books of neither year are closed: the step wrote nothing (2026 may not even have ended yet).
    assert summaries["fiscal_year_fec"]["written"] == 0
    assert summaries["fiscal_year_fec"]["years"]["2025-12-31"] == "not closed"


@pytest.mark.parametrize("transport", ["local", "embedded_sftp", "sshd"])
def test_each_closed_year_is_written_once_then_already_written_and_an_open_year_waits(ledger, tmp_path, caplog,
                                                                                     transport):
    with _transport(transport, tmp_path) as (root, conn):
        _two_years_written(ledger, conn)
        fec = root / ENTITY / "fec"
        assert not fec.exists()
        closed_2025 = _entity(siren=SIREN, closed_through="2025-12-31")

        with caplog.at_level(logging.INFO, logger=f"ledgerbridge.test.{ENTITY}"):
            first = run_step(_context(ledger, conn, closed_2025, IN_2027), "fiscal_year_fec")
        assert first["written"] == 1 and first["not_closed"] == 1
        assert first["years"] == {"2025-12-31": "written", "2026-12-31": "not closed"}
        assert sorted(p.name for p in fec.iterdir()) == [FEC_2025]  # whole: no .part left
        report = validate_fec((fec / FEC_2025).read_bytes(), closing_date=date(2025, 12, 31))
        assert report.ok and report.entries == 1, report.problems
        said = caplog.text
        assert f"fiscal year 2025-01-01 to 2025-12-31: {ENTITY}/fec/{FEC_2025} written (1 entries)" in said
        assert ("fiscal year 2026-01-01 to 2026-12-31 (2 entries): ended, but its books are not closed "
                "(accounting.entry_files.closed_through is 2025-12-31): its FEC waits; once the accountant has "
                "closed the year, set closed_through to 2026-12-31 or later") in said

        written_at = (fec / FEC_2025).stat().st_mtime_ns
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=f"ledgerbridge.test.{ENTITY}"):
            again = run_step(_context(ledger, conn, closed_2025, IN_2027), "fiscal_year_fec")
        assert again["written"] == 0 and again["already_written"] == 1
        assert (fec / FEC_2025).stat().st_mtime_ns == written_at  # never written twice
        assert f"{ENTITY}/fec/{FEC_2025} already written (1 entries, the same bytes): left as it is" in caplog.text

        closed_2026 = _entity(siren=SIREN, closed_through="2026-12-31")
        dry = run_step(_context(ledger, conn, closed_2026, IN_2027, dry_run=True), "fiscal_year_fec")
        assert dry["years"] == {"2025-12-31": "already written", "2026-12-31": "would write"}
        assert not (fec / FEC_2026).exists()

        last = run_step(_context(ledger, conn, closed_2026, IN_2027), "fiscal_year_fec")
        assert last["years"] == {"2025-12-31": "already written", "2026-12-31": "written"}
        pieces = {line.split("\t")[8] for line in (fec / FEC_2026).read_bytes().decode("iso-8859-15").splitlines()[1:]}
        assert pieces == {"MP-2026-1187", "EDF-11-2026"}


def test_a_year_not_ended_waits_even_when_closed_through_is_past_it(ledger, tmp_path, caplog):
    with _transport("local", tmp_path) as (root, conn):
        _two_years_written(ledger, conn)
        entity = _entity(siren=SIREN, closed_through="2026-12-31")
        with caplog.at_level(logging.INFO, logger=f"ledgerbridge.test.{ENTITY}"):
            summary = run_step(_context(ledger, conn, entity, datetime(2026, 12, 31, 23, 0, tzinfo=UTC)),
                               "fiscal_year_fec")
        assert summary["years"] == {"2025-12-31": "written", "2026-12-31": "not ended"}
        assert "fiscal year 2026-01-01 to 2026-12-31 (2 entries so far): not ended" in caplog.text
        assert [p.name for p in (root / ENTITY / "fec").iterdir()] == [FEC_2025]


def test_no_siren_is_skipped_saying_what_to_set_and_the_run_succeeds(ledger, tmp_path, caplog):
    with _transport("local", tmp_path) as (root, conn):
        entity = _entity(closed_through="2025-12-31")
        context = _context(ledger, conn, entity, IN_2027)
        with caplog.at_level(logging.INFO, logger=f"ledgerbridge.test.{ENTITY}"):
            summary = run_step(context, "fiscal_year_fec")
        assert summary == {"skipped": "no SIREN: set accounting.entry_files.siren (the company's 9 digits) in the "
                                      "registry; the FEC of each closed fiscal year is named by it and written by "
                                      "the next run"}
        assert "full-year FEC skipped: no SIREN: set accounting.entry_files.siren" in caplog.text
        assert context.connected is None  # nothing to read: the connection was not even opened
        with ledger.session() as session:
            assert session.scalars(select(SyncRun.status).where(SyncRun.step == "fiscal_year_fec")).one() == "success"
        assert not (root / ENTITY / "fec").exists()


def test_another_kind_of_entity_has_nothing_to_do_and_never_connects(ledger):
    entity = LegalEntity.model_validate({"id": "acme_us", "name": "Acme", "base_currency": "USD",
                                         "accounting": {"kind": "quickbooks_online", "conn_id": "qbo_acme"}})
    context = RunContext(entity=entity, ledger=ledger, run_id="test__other", connect=None)  # connecting would raise
    assert run_step(context, "fiscal_year_fec") == {
        "skipped": "not an entry-files entity (accounting kind quickbooks_online)"}


def test_a_file_of_that_name_holding_other_bytes_fails_the_step_for_a_person(ledger, tmp_path):
    with _transport("local", tmp_path) as (root, conn):
        _two_years_written(ledger, conn)
        fec = root / ENTITY / "fec"
        fec.mkdir()
        (fec / FEC_2025).write_bytes(b"the accountant's own file")
        context = _context(ledger, conn, _entity(siren=SIREN, closed_through="2025-12-31"), IN_2027)

        with pytest.raises(FiscalYearFecRefused) as refused:
            run_step(context, "fiscal_year_fec")

        assert str(refused.value) == (f"{ENTITY}: the FEC of 1 closed fiscal year(s) could not be written: 2025-12-31: "
                                      f"{ENTITY}/fec/{FEC_2025} already holds another file: move it away to write "
                                      "the fiscal year again")
        assert (fec / FEC_2025).read_bytes() == b"the accountant's own file"  # left alone
        with ledger.session() as session:
            run = session.scalars(select(SyncRun).where(SyncRun.run_id == context.run_id,
                                                        SyncRun.step == "fiscal_year_fec")).one()
        assert run.status == "failed" and run.summary["refused"] == 1 and run.summary["not_closed"] == 1


# -- the command line without --folder: the entity's own connection, read through Airflow ---------------

def _registry(tmp_path: Path, monkeypatch, **entry_files) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [_entity_data(**entry_files)]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))


def _airflow_connection(monkeypatch, conn: ConnectionSettings, conn_type: str) -> None:
    """The connection as a deployment gives it to its workers: AIRFLOW_CONN_<ID>, Airflow's JSON form."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({
        "conn_type": conn_type, "host": conn.host, "port": conn.port, "login": conn.login,
        "password": conn.password, "extra": conn.extra}))


@pytest.mark.parametrize("transport", ["local", "embedded_sftp"])
def test_fec_year_without_folder_writes_through_the_entitys_own_connection(ledger, tmp_path, monkeypatch, capsys,
                                                                           transport):
    with _transport(transport, tmp_path) as (root, conn):
        _two_years_written(ledger, conn)
        _registry(tmp_path, monkeypatch, siren=SIREN)
        _airflow_connection(monkeypatch, conn, "ledgerbridge_entry_files" if transport == "local" else "sftp")
        command = ["entry-files", "fec-year", "--entity", ENTITY, "--closing-date", "2025-12-31"]

        assert main(command) == 0
        out = capsys.readouterr()
        assert f"{ENTITY}/fec/{FEC_2025} (written)" in out.out and "files-secret" not in out.out + out.err
        assert "fiscal year 2025-01-01 to 2025-12-31, 1 entries" in out.out
        assert validate_fec((root / ENTITY / "fec" / FEC_2025).read_bytes(), closing_date=date(2025, 12, 31)).ok

        assert main(command) == 0  # the same bytes again: done
        assert f"{ENTITY}/fec/{FEC_2025} (already written)" in capsys.readouterr().out
        (root / ENTITY / "fec" / FEC_2025).write_bytes(b"another file")
        assert main(command) == 1
        assert "already holds another file: move it away" in capsys.readouterr().err


def test_fec_year_without_folder_and_without_a_connection_says_where_to_define_it(tmp_path, monkeypatch, capsys):
    _registry(tmp_path, monkeypatch, siren=SIREN)
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{tmp_path / 'no-airflow.db'}")

    assert main(["entry-files", "fec-year", "--entity", ENTITY, "--closing-date", "2025-12-31"]) == 1

    err = capsys.readouterr().err
    assert f"connection '{CONN_ID}' could not be read through Airflow" in err
    assert f"AIRFLOW_CONN_{CONN_ID.upper()}" in err and "give --folder" in err
