"""An entry-files entity's sync: the accountant's lists in, every kind of document out as one FEC
file per batch (VAT computed from the tax codes, auxiliary accounts on party lines, attachments beside
it), read back by the FEC validator; nothing written twice, even when writing fails midway; a bad
document held or refused with its reason while the others go. Over a local folder and the embedded
SFTP server."""
from __future__ import annotations

import csv
import io
import json
import logging
import uuid
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from ledgerbridge.cli import main
from ledgerbridge.connectors.base import Outgoing
from ledgerbridge.connectors.entryfiles import reference_csv
from ledgerbridge.connectors.factory import ConnectionSettings, build_connector, drop_opener
from ledgerbridge.entryfiles.fec import validate_fec
from ledgerbridge.filedrop.fs import LocalFileSystem
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import OutboxEntry, OutboxState, QuarantineEntry
from ledgerbridge.pipeline import RunContext, RunParams, run_all
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.sftp import serve_in_thread
from ledgerbridge.settings import PROJECT_ROOT

ENTITY = "martin_fr"
DEMO = yaml.safe_load((PROJECT_ROOT / "include" / "config" / "demo_data.yaml").read_text())["entities"][ENTITY]


def _entity(quality: dict | None = None, **entry_files) -> LegalEntity:
    return LegalEntity.model_validate(_entity_data(quality, **entry_files))


def _entity_data(quality: dict | None = None, **entry_files) -> dict:
    return {**({"quality": quality} if quality else {}),
            "id": ENTITY, "name": "Boulangerie Martin SARL", "base_currency": "EUR",
            "accounting": {"kind": "entry_files", "conn_id": "files_martin_fr",
                           "entry_files": {"format": "fec", "payables_account": "401000",
                                           "receivables_account": "411000", **entry_files}},
            "flows": ["reference", "parties", "bills", "invoices", "credit_notes", "sales_receipts",
                      "journal_entries"],
            "matching": {"create_missing_vendors": True, "create_missing_customers": True}}


def _write_reference(root: Path, lists: dict) -> None:
    folder = root / ENTITY / "reference"
    folder.mkdir(parents=True)
    for name, rows in lists.items():
        (folder / f"{name}.csv").write_text(reference_csv(rows), encoding="utf-8")


def _local_folder(tmp_path: Path) -> tuple[Path, ConnectionSettings]:
    root = tmp_path / "accountant"
    root.mkdir()
    _write_reference(root, DEMO["reference"])
    return root, ConnectionSettings("files_martin_fr", extra={"local_root": str(root)})


@contextmanager
def _transport(kind: str, tmp_path: Path, root: Path):
    if kind == "local":
        yield ConnectionSettings("files_martin_fr", extra={"local_root": str(root)})
        return
    server = serve_in_thread(root, users={"accountant": "files-secret"}, host_key_path=tmp_path / "host_key")
    try:
        yield ConnectionSettings("files_martin_fr", host=server.host, port=server.port, login="accountant",
                                 password="files-secret", extra={"root": "/", "host_key": server.host_key_line})
    finally:
        server.stop()


@pytest.fixture(params=["local", "embedded_sftp"])
def folder(request, tmp_path: Path):
    root = tmp_path / "accountant"
    root.mkdir()
    _write_reference(root, DEMO["reference"])
    with _transport(request.param, tmp_path, root) as conn:
        yield root, conn


def _run(ledger, conn, entity: LegalEntity | None = None, connect=None) -> dict:
    entity = entity or _entity()
    return run_all(RunContext(entity=entity, ledger=ledger, run_id=f"test__{uuid.uuid4().hex[:8]}",
                              params=RunParams.from_mapping({}),
                              connect=connect or (lambda: build_connector(entity, conn, ledger)),
                              log=logging.getLogger(f"ledgerbridge.test.{ENTITY}")))


def _entry_files(root: Path) -> list[Path]:
    return sorted((root / ENTITY / "entries").glob("*.txt"))


def _fec_lines(path: Path) -> list[dict]:
    text = path.read_bytes().decode("iso-8859-15")  # the FEC's legal encoding (docs/entry-files.md)
    return list(csv.DictReader(io.StringIO(text), delimiter="\t"))


def _amount(text: str) -> Decimal:
    return Decimal(text.replace(",", "."))


def test_every_kind_of_document_becomes_one_balanced_fec_entry(ledger, folder):
    root, conn = folder
    with ledger.session() as session:
        import_hub_data(session, _entity(), DEMO["hub"])

    first = _run(ledger, conn)

    assert first["pull_reference"]["account"]["received"] == len(DEMO["reference"]["accounts"])
    assert first["export_documents"]["confirmed"] == 7  # 3 bills (B-5004 held), an invoice, a credit note, a receipt, the OD
    [written] = _entry_files(root)
    report = validate_fec(written.read_bytes())
    assert report.ok, report.problems
    lines = _fec_lines(written)
    by_entry: dict[tuple[str, str], list[dict]] = {}
    for line in lines:
        by_entry.setdefault((line["JournalCode"], line["EcritureNum"]), []).append(line)

    # 850.00 of flour at 20% VAT: 1,020.00 to the miller's auxiliary account, 170.00 of deductible VAT.
    flour = {(l["CompteNum"], l["CompAuxNum"]): (_amount(l["Debit"]), _amount(l["Credit"]))
             for l in by_entry[("HA", "B-5001")]}
    assert flour == {("401000", "FMOULIN"): (0, Decimal("1020.00")), ("601000", ""): (Decimal("850.00"), 0),
                     ("445660", ""): (Decimal("170.00"), 0)}
    # The new stationer got an auxiliary account of its own, opened by this entry.
    stationer = [l for l in by_entry[("HA", "B-5003")] if l["CompteNum"] == "401000"]
    assert stationer[0]["CompAuxNum"].startswith("FPAPETERIE") and stationer[0]["CompAuxLib"] == "Papeterie Dupont"
    # The invoice: two VAT rates on one collected-VAT account; the customer owes the gross.
    invoice = {l["CompteNum"]: (_amount(l["Debit"]), _amount(l["Credit"])) for l in by_entry[("VT", "I-5001")]}
    assert invoice == {"411000": (Decimal("1689.90"), 0), "706000": (0, Decimal("1250.00")),
                       "701000": (0, Decimal("180.00")), "445710": (0, Decimal("259.90"))}  # 250.00 + 9.90
    # The credit note is the invoice's mirror, on its own journal; the receipt on VC; the OD as keyed.
    credit = {l["CompteNum"]: (_amount(l["Debit"]), _amount(l["Credit"])) for l in by_entry[("AV", "A-5001")]}
    assert credit == {"411000": (0, Decimal("120.00")), "706000": (Decimal("100.00"), 0),
                      "445710": (Decimal("20.00"), 0)}
    assert ("VC", "R-5001") in by_entry and ("OD", "J-5001") in by_entry
    assert {l["JournalLib"] for l in by_entry[("HA", "B-5001")]} == {"Journal des achats"}
    assert {l["CompteLib"] for l in by_entry[("HA", "B-5001")] if l["CompteNum"] == "445660"} == \
        {"TVA déductible sur autres biens et services"}

    with ledger.session() as session:
        rows = {r.record_key: r for r in session.scalars(select(OutboxEntry))}
        held = {q.record_key: q.reasons for q in session.scalars(select(QuarantineEntry).where(
            QuarantineEntry.status == "open"))}
    assert rows["bill:B-5001"].state == OutboxState.CONFIRMED and rows["bill:B-5001"].external_id == "HA-B-5001"
    assert "B-5004" in held and "623000" in json.dumps(held["B-5004"])  # not in the chart: held with the reason
    # The attachment lies beside the entries, under the entry it supports.
    assert (root / ENTITY / "documents" / "HA-B-5003" / "PD-4471.txt").read_bytes().startswith(b"Facture PD-4471")

    second = _run(ledger, conn)
    assert second["export_documents"]["sent"] == 0 and _entry_files(root) == [written]  # never twice


def test_a_document_the_lists_cannot_post_is_refused_with_its_reason_and_the_others_go(ledger, folder):
    root, conn = folder
    hub = {"vendors": DEMO["hub"]["vendors"][:1],
           "bills": [dict(DEMO["hub"]["bills"][0]),
                     dict(DEMO["hub"]["bills"][0], hub_id="B-9", doc_number="MP-9")]}
    with ledger.session() as session:
        import_hub_data(session, _entity(), hub)
    # The accountant's journals do not hold the purchases journal this entity is set to.
    entity = _entity(journals={"bill": "ACH"})

    _run(ledger, conn, entity)

    with ledger.session() as session:
        rows = session.scalars(select(OutboxEntry)).all()
    assert {r.state for r in rows} == {OutboxState.REJECTED}
    assert all("journal ACH is not among the accounting file's journals" in r.error for r in rows)
    assert _entry_files(root) == []  # nothing to write: no empty file either


class _FailingOnce:
    """The folder, except that the marker saying a file was written fails once: the entry file has
    landed, the answer is lost."""

    def __init__(self, root: Path):
        self.fs = LocalFileSystem(root)
        self.failed = False

    def __getattr__(self, name):
        return getattr(self.fs, name)

    def rename(self, source: str, target: str) -> None:
        if not self.failed and target.endswith(".written"):
            self.failed = True
            raise OSError("connection reset while marking the file written")
        self.fs.rename(source, target)


def test_a_file_that_landed_while_the_answer_was_lost_is_adopted_never_written_again(ledger, tmp_path):
    root, conn = _local_folder(tmp_path)
    entity = _entity()
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": DEMO["hub"]["vendors"], "bills": DEMO["hub"]["bills"][:3]})
    failing = _FailingOnce(root)

    def connect():
        connector = build_connector(entity, conn, ledger)
        connector.open_fs = lambda: _nullcontext(failing)
        return connector

    first = _run(ledger, conn, entity, connect)
    assert failing.failed and first["export_documents"]["uncertain"] == 3
    second = _run(ledger, conn, entity)

    with ledger.session() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "bill")).all()
    assert {r.state for r in rows} == {OutboxState.CONFIRMED} and second["export_documents"]["sent"] == 0
    [written] = _entry_files(root)
    assert {l["EcritureNum"] for l in _fec_lines(written)} == {"B-5001", "B-5002", "B-5003"}


@contextmanager
def _nullcontext(value):
    yield value


def test_the_connection_reaches_the_same_folder_by_sftp(folder):
    root, conn = folder
    with drop_opener(conn)() as fs:
        assert fs.exists(f"{ENTITY}/reference/accounts.csv")


def test_the_marker_still_proves_a_file_written_after_the_accountant_took_it_away(ledger, tmp_path):
    root, conn = _local_folder(tmp_path)
    entity = _entity()
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": DEMO["hub"]["vendors"], "bills": DEMO["hub"]["bills"][:2]})
    _run(ledger, conn, entity)
    [written] = _entry_files(root)
    written.rename(root / written.name)  # imported, and moved out of entries/ by the accountant
    with ledger.session() as session:
        sent = [Outgoing(str(row.id), row.kind, row.payload, row.idempotency_key)
                for row in session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "bill"))]

    found = build_connector(entity, conn, ledger).find_existing_many(sent)

    assert {item.ref: found[item.ref].external_id for item in sent} == \
        {item.ref: f"HA-{item.payload['hub_id']}" for item in sent}


def test_the_closed_period_and_a_number_taken_in_a_shared_journal_are_refused_with_their_reasons(ledger, tmp_path):
    root, conn = _local_folder(tmp_path)
    # Invoices and credit notes share the sales journal here: one hub id on both would make two entries
    # with one number in one journal.
    entity = _entity(closed_through="2026-11-04", journals={"credit_note": "VT"})
    credit = dict(DEMO["hub"]["credit_notes"][0], hub_id="I-5001")
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": DEMO["hub"]["vendors"], "customers": DEMO["hub"]["customers"],
                                          "bills": DEMO["hub"]["bills"][:2], "invoices": DEMO["hub"]["invoices"],
                                          "credit_notes": [credit]})

    _run(ledger, conn, entity)

    with ledger.session() as session:
        rows = {r.record_key: r for r in session.scalars(select(OutboxEntry).where(OutboxEntry.kind != "vendor",
                                                                                   OutboxEntry.kind != "customer"))}
    assert rows["bill:B-5001"].state == OutboxState.REJECTED  # dated 2026-11-03
    assert "in the period the accountant closed through 2026-11-04" in rows["bill:B-5001"].error
    assert rows["bill:B-5002"].state == OutboxState.CONFIRMED  # dated 2026-11-05
    states = {rows["invoice:I-5001"].state, rows["credit_note:I-5001"].state}
    assert states == {OutboxState.CONFIRMED, OutboxState.REJECTED}
    refused = next(r for r in rows.values() if r.state == OutboxState.REJECTED and r.record_key.endswith("I-5001"))
    assert "entry number I-5001 is taken in journal VT" in refused.error
    [written] = _entry_files(root)
    assert validate_fec(written.read_bytes()).ok


def test_a_vendor_credit_is_the_bills_reverse_in_the_purchases_journal_once(ledger, folder):
    root, conn = folder
    entity = LegalEntity.model_validate({**_entity().model_dump(mode="json"),
                                         "flows": ["reference", "parties", "vendor_credits"]})
    credit = {"hub_id": "AF-1", "vendor": "V-500", "doc_number": "MP-AV-12", "doc_date": "2026-11-06",
              "status": "approved", "lines": [{"amount": "100.00", "account": "601000", "tax_code": "TVA20D",
                                               "description": "Farine avariée, 5 sacs"}]}
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": DEMO["hub"]["vendors"][:1], "vendor_credits": [
            credit, dict(credit, hub_id="AF-2", doc_number="MP-AV-13",
                         lines=[{"amount": "10.00", "account": "609000"}])]})

    first = _run(ledger, conn, entity)

    [written] = _entry_files(root)
    assert validate_fec(written.read_bytes()).ok
    entry = {(l["CompteNum"], l["CompAuxNum"]): (_amount(l["Debit"]), _amount(l["Credit"]))
             for l in _fec_lines(written) if (l["JournalCode"], l["EcritureNum"]) == ("HA", "AF-1")}
    assert entry == {("401000", "FMOULIN"): (Decimal("120.00"), 0), ("601000", ""): (0, Decimal("100.00")),
                     ("445660", ""): (0, Decimal("20.00"))}
    assert first["export_documents"]["confirmed"] == 1
    with ledger.session() as session:
        held = {q.record_key: q.reasons for q in session.scalars(select(QuarantineEntry).where(
            QuarantineEntry.status == "open"))}
    assert "609000" in json.dumps(held["AF-2"])  # not in the chart: held with the reason

    second = _run(ledger, conn, entity)
    assert second["export_documents"]["sent"] == 0 and _entry_files(root) == [written]  # never twice


USD_ALLOWED = _entity({"allowed_currencies": ["USD"]})


def _usd_bill(hub_id: str, doc_date: str, rate: str | None, *amounts: str) -> dict:
    bill = {"hub_id": hub_id, "vendor": "V-500", "doc_number": f"INV-{hub_id}", "doc_date": doc_date,
            "status": "approved", "currency": "USD",
            "lines": [{"amount": amount, "account": "601000", "description": f"Import {number}"}
                      for number, amount in enumerate(amounts, start=1)]}
    return bill if rate is None else {**bill, "exchange_rate": rate}


def test_a_foreign_bill_is_written_in_home_currency_with_its_own_amount_and_currency_on_every_line(ledger, tmp_path):
    root, conn = _local_folder(tmp_path)
    with ledger.session() as session:
        import_hub_data(session, USD_ALLOWED, {
            "vendors": DEMO["hub"]["vendors"][:1],
            # 3 x 10.01 USD at 1.5: each line 15.015 -> 15.02 EUR, but the vendor is owed 45.045 -> 45.05.
            "bills": [_usd_bill("B-6001", "2026-11-20", "1.5", "10.01", "10.01", "10.01"),
                      _usd_bill("B-6002", "2026-11-21", None, "99.00")],
            # A journal entry has no party line: the residue goes on its largest line.
            "journal_entries": [{"hub_id": "J-6001", "doc_date": "2026-11-30", "status": "approved", "currency": "USD",
                                 "exchange_rate": "1.5", "memo": "Salaires détachés", "lines": [
                                     {"account": "641000", "debit": "10.01"}, {"account": "641000", "debit": "10.01"},
                                     {"account": "421000", "credit": "20.02"}]}]})

    _run(ledger, conn, USD_ALLOWED)

    [written] = _entry_files(root)
    report = validate_fec(written.read_bytes())
    assert report.ok, report.problems
    lines = [line for line in _fec_lines(written) if line["EcritureNum"] == "B-6001"]
    assert {(line["Montantdevise"], line["Idevise"]) for line in lines} == {("30,03", "USD"), ("10,01", "USD")}
    [vendor] = [line for line in lines if line["CompteNum"] == "401000"]
    assert _amount(vendor["Credit"]) == Decimal("45.05") == (Decimal("30.03") * Decimal("1.5")).quantize(
        Decimal("0.01"), rounding="ROUND_HALF_UP")
    expenses = sorted(_amount(line["Debit"]) for line in lines if line["CompteNum"] == "601000")
    assert expenses == [Decimal("15.01"), Decimal("15.02"), Decimal("15.02")]  # the cent of rounding on one line
    assert sum(expenses) == _amount(vendor["Credit"])
    journal = {(line["CompteNum"], line["Debit"], line["Credit"], line["Montantdevise"], line["Idevise"])
               for line in _fec_lines(written) if line["EcritureNum"] == "J-6001"}
    assert journal == {("641000", "15,02", "0,00", "10,01", "USD"), ("421000", "0,00", "30,04", "20,02", "USD")}
    # Without a rate it never reaches the files: held before export, saying what to give.
    with ledger.session() as session:
        assert session.scalars(select(OutboxEntry).where(OutboxEntry.record_key == "bill:B-6002")).all() == []
        [held] = session.scalars(select(QuarantineEntry).where(QuarantineEntry.record_key == "B-6002")).all()
    assert held.reasons[0]["field"] == "exchange_rate"
    assert "has no exchange rates; give exchange_rate (EUR per 1 USD) in the feed" in held.reasons[0]["problem"]


def test_a_foreign_bill_for_an_iif_entity_is_refused_with_the_reason(ledger, tmp_path):
    root, conn = _local_folder(tmp_path)
    entity = _entity({"allowed_currencies": ["USD"]}, format="iif")
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": DEMO["hub"]["vendors"][:1],
                                          "bills": [_usd_bill("B-6001", "2026-11-20", "1.5", "10.01"),
                                                    dict(DEMO["hub"]["bills"][0])]})

    _run(ledger, conn, entity)

    with ledger.session() as session:
        rows = {r.record_key: r for r in session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "bill"))}
    assert rows["bill:B-6001"].state == OutboxState.REJECTED
    assert "is in USD: the iif layout carries no currency" in rows["bill:B-6001"].error
    assert rows["bill:B-5001"].state == OutboxState.CONFIRMED


SIREN = "732829320"


def _registry(tmp_path: Path, monkeypatch, **entry_files) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [_entity_data(**entry_files)]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))


def test_two_runs_of_a_year_make_one_legal_fec_each_entry_once_in_order_numbered(ledger, tmp_path, monkeypatch,
                                                                                 capsys):
    root, conn = _local_folder(tmp_path)
    entity = _entity(siren=SIREN, format="csv")  # the legal FEC whatever the format the accountant imports
    _registry(tmp_path, monkeypatch, siren=SIREN, format="csv")
    hub = DEMO["hub"]
    last_year = dict(hub["bills"][0], hub_id="B-4999", doc_number="MP-2025-1299", doc_date="2025-12-20")
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": hub["vendors"], "bills": [*hub["bills"][:2], last_year]})
    _run(ledger, conn, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, {"customers": hub["customers"], "invoices": hub["invoices"],
                                          "journal_entries": hub["journal_entries"]})
    _run(ledger, conn, entity)
    assert len(sorted((root / ENTITY / "entries").glob("*.csv"))) == 2

    command = ["entry-files", "fec-year", "--entity", ENTITY, "--closing-date", "2026-12-31", "--folder", str(root)]
    assert main(command) == 0

    [legal] = (root / ENTITY / "fec").iterdir()
    assert legal.name == f"{SIREN}FEC20261231.txt" and str(legal.relative_to(root)) in capsys.readouterr().out
    report = validate_fec(legal.read_bytes(), closing_date=date(2026, 12, 31))
    assert report.ok, report.problems
    entries: dict[str, set[str]] = {}
    for line in _fec_lines(legal):
        entries.setdefault(line["EcritureNum"], set()).add((line["PieceRef"], line["EcritureDate"]))
    # Numbered 1, 2, ... in order of validation; each document once; last year's bill left out.
    assert {number: pieces.pop() for number, pieces in entries.items()} == {
        "1": ("MP-2026-1187", "20261103"), "2": ("EDF-11-2026", "20261105"), "3": ("FA-2026-0042", "20261112"),
        "4": ("OD-2026-11", "20261130")}
    assert report.entries == 4 and report.total_debit == report.total_credit

    assert main(command) == 0  # the same file again: done, untouched
    assert main(command[:-4] + ["--closing-date", "2025-12-31", "--folder", str(root)]) == 0
    [previous] = [line for line in _fec_lines(root / ENTITY / "fec" / f"{SIREN}FEC20251231.txt")
                  if line["CompteNum"] == "401000"]
    assert previous["PieceRef"] == "MP-2025-1299" and previous["EcritureNum"] == "1"


def test_the_legal_fec_names_what_it_lacks(ledger, tmp_path, monkeypatch, capsys):
    root, _conn = _local_folder(tmp_path)
    _registry(tmp_path, monkeypatch)
    command = ["entry-files", "fec-year", "--entity", ENTITY, "--closing-date", "2026-12-31", "--folder", str(root)]

    assert main(command) == 1
    assert "no SIREN: set accounting.entry_files.siren in the registry" in capsys.readouterr().err

    _registry(tmp_path, monkeypatch, siren="732829321")
    assert main(command) == 1
    assert "siren: SIREN '732829321' fails its check digit" in capsys.readouterr().err

    _registry(tmp_path, monkeypatch, siren=SIREN)
    assert main(command[:-4] + ["--closing-date", "2026-06-30", "--folder", str(root)]) == 1
    assert "closing date 2026-06-30 is not a fiscal year end of the entity" in capsys.readouterr().err
    assert main(command) == 1
    assert "no entry written for the fiscal year 2026-01-01 to 2026-12-31" in capsys.readouterr().err


def test_bank_entries_and_expense_reports_balance_against_the_bank_or_the_payee_in_their_journals(ledger, tmp_path):
    """A bank entry in BQ (the bank account against its counterparts; a vendor or customer on the lines on its
    control account), an expense report in NDF (the payee's payable, or the bank the company paid it from)."""
    root = tmp_path / "accountant"
    root.mkdir()
    journals = [*DEMO["reference"]["journals"], {"code": "BQ", "name": "Banque"},
                {"code": "NDF", "name": "Notes de frais"}]
    _write_reference(root, {**DEMO["reference"], "journals": journals})
    conn = ConnectionSettings("files_martin_fr", extra={"local_root": str(root)})
    entity = LegalEntity.model_validate({**_entity().model_dump(mode="json"),
                                         "flows": ["reference", "parties", "bank_entries", "expense_reports"]})
    bank = {"doc_date": "2026-11-12", "status": "approved", "bank_account": "512000"}
    report = {"vendor": "V-502", "doc_date": "2026-11-20", "status": "approved", "lines": [
        {"account": "606400", "amount": "24.00", "tax_code": "TVA20D", "description": "Ramettes", "date": "2026-11-03"},
        {"account": "622600", "amount": "15.50", "date": "2026-11-04"}]}
    with ledger.session() as session:
        import_hub_data(session, entity, {
            "vendors": DEMO["hub"]["vendors"], "customers": DEMO["hub"]["customers"],
            "bank_entries": [
                {**bank, "hub_id": "BQ-1", "direction": "out", "vendor": "V-500", "memo": "Virement Moulins",
                 "lines": [{"account": "401000", "amount": "480.00"}, {"account": "622600", "amount": "2.50"}]},
                {**bank, "hub_id": "BQ-2", "direction": "in", "customer": "C-500",
                 "lines": [{"account": "411000", "amount": "1250.00"}]}],
            "expense_reports": [{**report, "hub_id": "NDF-1", "doc_number": "NDF-1"},
                                {**report, "hub_id": "NDF-2", "doc_number": "NDF-2", "bank_account": "512000"}]})

    first = _run(ledger, conn, entity)

    [written] = _entry_files(root)
    assert validate_fec(written.read_bytes()).ok
    entries: dict = {}
    for line in _fec_lines(written):
        entries.setdefault((line["JournalCode"], line["EcritureNum"]), {})[
            (line["CompteNum"], line["CompAuxNum"])] = (_amount(line["Debit"]), _amount(line["Credit"]))
    assert entries[("BQ", "BQ-1")] == {("512000", ""): (0, Decimal("482.50")),
                                       ("401000", "FMOULIN"): (Decimal("480.00"), 0),
                                       ("622600", ""): (Decimal("2.50"), 0)}
    assert entries[("BQ", "BQ-2")] == {("512000", ""): (Decimal("1250.00"), 0),
                                       ("411000", "CMAIRIE"): (0, Decimal("1250.00"))}
    payee = next(aux for account, aux in entries[("NDF", "NDF-1")] if account == "401000")
    assert entries[("NDF", "NDF-1")] == {("401000", payee): (0, Decimal("44.30")),
                                         ("606400", ""): (Decimal("24.00"), 0), ("622600", ""): (Decimal("15.50"), 0),
                                         ("445660", ""): (Decimal("4.80"), 0)}
    assert entries[("NDF", "NDF-2")][("512000", "")] == (0, Decimal("44.30"))
    for entry in entries.values():  # balanced to the cent
        assert sum(d for d, _ in entry.values()) == sum(c for _, c in entry.values())
    assert first["export_documents"]["confirmed"] == 4

    second = _run(ledger, conn, entity)
    assert second["export_documents"]["sent"] == 0 and _entry_files(root) == [written]  # never twice


def test_the_source_s_journals_name_the_entries_and_its_auxiliary_accounts_go_on_the_party_lines(ledger, tmp_path):
    root, conn = _local_folder(tmp_path)
    hub = {
        "journals": [{"code": "HA", "name": "Achats boulangerie", "type": "purchases"},
                     {"code": "OD", "name": "Opérations diverses", "type": "general", "active": False}],
        "vendors": [dict(DEMO["hub"]["vendors"][0], auxiliary_account="401MOULINS"),  # the books know it as FMOULIN
                    DEMO["hub"]["vendors"][1],  # none declared: the books' own code
                    dict(DEMO["hub"]["vendors"][2], auxiliary_account="FDUPONT")],  # new: opened under its own
        "bills": [DEMO["hub"]["bills"][0], dict(DEMO["hub"]["bills"][2], journal="HA"),
                  dict(DEMO["hub"]["bills"][1], journal="VT")],  # VT: the accountant's, not the source's
        "journal_entries": [dict(DEMO["hub"]["journal_entries"][0], journal="OD")],  # declared, retired
    }
    with ledger.session() as session:
        import_hub_data(session, _entity(), hub)

    result = _run(ledger, conn)

    assert result["export_documents"]["confirmed"] == 2
    [written] = _entry_files(root)
    report = validate_fec(written.read_bytes())
    assert report.ok, report.problems
    lines = _fec_lines(written)
    assert {(l["JournalCode"], l["EcritureNum"]) for l in lines} == {("HA", "B-5001"), ("HA", "B-5003")}
    assert {l["JournalLib"] for l in lines} == {"Achats boulangerie"}  # the source's name, not the file's
    party = {l["EcritureNum"]: (l["CompAuxNum"], l["CompAuxLib"]) for l in lines if l["CompteNum"] == "401000"}
    assert party == {"B-5001": ("401MOULINS", "Moulins de Paris"), "B-5003": ("FDUPONT", "Papeterie Dupont")}
    with ledger.session() as session:
        held = {q.record_key: q.reasons for q in session.scalars(select(QuarantineEntry).where(
            QuarantineEntry.status == "open"))}
    assert [(r["expectation"], r["field"]) for r in held["B-5002"]] == [("journal_declared_by_source", "journal_code")]
    assert "journal 'VT' is not among the journals the source declared" in held["B-5002"][0]["problem"]
    assert [r["expectation"] for r in held["J-5001"]] == ["journal_declared_by_source"]
    assert "journal 'OD' is inactive among the journals the source declared" in held["J-5001"][0]["problem"]
