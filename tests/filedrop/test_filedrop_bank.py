"""Protocol version 6's bank entries and expense reports (QuickBooks Desktop: a Check out of a bank account or
a Deposit into it; an expense report as a Check to the payee when paid from a bank account, else a Bill owed to
them): their schemas name the record and the field of a bad message; a file of one says version 6, and one
saying an older version is refused whole; the desktop agent books each once, refuses what QuickBooks Desktop
would naming the field, answers the rate it booked a foreign one at; the connector sends them only to an agent
declared version 6 and says why not to an older one."""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from drop_samples import (
    answers_to,
    poll,
    COMPANY,
    DELETE,
    ENTITY,
    bank_entry,
    changed,
    drop,
    expense_report,
    message,
    send,
)
from ledgerbridge.connectors.base import (
    Awaiting,
    BankEntryExport,
    Created,
    ExpenseReportExport,
    LineExport,
    Outgoing,
)
from ledgerbridge.connectors.filedrop import FileDropConnector
from ledgerbridge.filedrop import LocalFileSystem, Rejection, read_inbound, validate_message
from ledgerbridge.filedrop.protocol import message_version
from ledgerbridge.sandbox.desktop import DesktopCompany

SAMPLES = {"bank_entries": bank_entry, "expense_reports": expense_report}
NUMBER = {"bank_entries": "entry_number", "expense_reports": "report_number"}


# --- the schemas and the version --------------------------------------------------------------------

@pytest.mark.parametrize("kind", SAMPLES)
def test_a_sample_of_each_kind_passes_its_schema_as_version_6(kind):
    assert message_version(kind, [SAMPLES[kind]()]) == 6
    assert validate_message(kind, message(kind)) == []
    assert validate_message(kind, message(kind, [{**SAMPLES[kind](), "currency": "EUR",
                                                  "exchange_rate": "1.0856"}])) == []


BAD = [
    ("bank_entries", "/records/1/direction", "sideways", "schema", "is not one of \"out\", \"in\""),
    ("bank_entries", "/records/1/bank_account", None, "schema", "is required but missing"),
    ("bank_entries", "/records/1/entity", "Nick Brown", "schema", "must be object"),
    ("bank_entries", "/records/1/lines/0/amount", 42.5, "schema", "is the JSON number 42.5"),
    ("bank_entries", "/records/1/total", "42.51", "inconsistent", "not the sum of the line amounts (42.50)"),
    ("bank_entries", "/records/1/entry_number", "X" * 21, "schema", "a document number of 1 to 20 characters"),
    ("bank_entries", "/records/1/exchange_rate", "0", "schema", "above zero"),
    ("bank_entries", "/records/1/payee", {"name": "Nick Brown"}, "schema", "is not a field of this message"),
    ("expense_reports", "/records/1/payee", None, "schema", "is required but missing"),
    ("expense_reports", "/records/1/total", "65", "inconsistent", None),  # equal as a decimal: passes
    ("expense_reports", "/records/1/total", "64.00", "inconsistent", "not the sum of the line amounts (65.00)"),
    ("expense_reports", "/records/1/lines/1/account", {}, "schema", "is not valid: a reference to a list entry"),
    ("expense_reports", "/records/1/txn_date", "2025-02-30", "schema", "is not a calendar date"),
    ("expense_reports", "/records/1/bank_account", "Checking", "schema", "must be object"),
    ("expense_reports", "/records/1/total", "-65.00", "schema", "a decimal string of zero or more"),
]


@pytest.mark.parametrize("kind, pointer, value, code, words", BAD,
                         ids=[f"{kind}{pointer.removeprefix('/records/1')}={value!r}"[:60]
                              for kind, pointer, value, *_ in BAD])
def test_a_bad_record_is_named_with_its_index_key_and_field(kind, pointer, value, code, words):
    good, bad = SAMPLES[kind](), SAMPLES[kind](key=f"{kind}-bad", number="BAD-1")
    data = changed(message(kind, [good, bad]), pointer, DELETE if value is None else value)
    problems = validate_message(kind, data)
    if words is None:
        assert problems == []
        return
    [problem] = problems
    assert (problem.code, problem.field, problem.record_index, problem.record_key) == (
        code, pointer, 1, f"{kind}-bad"), problem
    assert words in problem.reason, problem.reason


@pytest.mark.parametrize("kind", SAMPLES)
@pytest.mark.parametrize("version", [4, 5])
def test_a_file_of_a_version_6_kind_saying_an_older_version_is_refused_whole(root, kind, version):
    path = drop(root, kind, message(kind, protocol_version=version))
    result = read_inbound(LocalFileSystem(root), path.relative_to(root).as_posix(), entity_id=ENTITY,
                          company_id=COMPANY)
    assert isinstance(result, Rejection)
    assert (result.code, result.field) == ("protocol_version", "/protocol_version")
    assert f"is a {kind} message, which protocol_version 6 introduced, but says protocol_version {version}" \
        in result.reason


# --- the agent --------------------------------------------------------------------------------------

# A sample -> where the desktop company keeps what it booked, and the number field there.
BOOKINGS = {
    "check": ("bank_entries", lambda **kw: bank_entry(**kw), "check", "entry_number"),
    "deposit": ("bank_entries", lambda **kw: bank_entry(direction="in", entity="Vance Refrigeration", account="Sales",
                                                        **kw), "deposit", "entry_number"),
    "paid_report": ("expense_reports", lambda **kw: expense_report(bank="Checking", **kw), "check", "report_number"),
    "owed_report": ("expense_reports", lambda **kw: expense_report(**kw), "bill", "bill_number"),
}


@pytest.mark.parametrize("sample", BOOKINGS)
def test_the_agent_books_each_once_and_answers_its_txn_id(agent, root, clock, sample):
    kind, make, txn_type, number = BOOKINGS[sample]
    sent = send(root, clock, kind, [make(key="k-1", number="N-1")])
    assert json.loads((root / sent).read_text())["protocol_version"] == 6
    poll(agent, root)
    answer = answers_to(root, sent)
    assert answer.envelope["protocol_version"] == 6 and answer.envelope["in_reply_to"]["kind"] == kind
    [confirmed] = answer.records
    assert confirmed["status"] == "confirmed", confirmed
    booked = agent.company.transactions[txn_type]
    stored = booked[confirmed["external_id"]]
    assert stored[number] == "N-1" and stored["total"] == Decimal(make()["total"])
    assert DesktopCompany.load(agent.state_file).transactions[txn_type].keys() == booked.keys()

    again = send(root, clock, kind, [make(key="k-1", number="N-1")], batch_key="batch-2")  # the same, again
    poll(agent, root)
    [duplicate] = answers_to(root, again).records
    assert (duplicate["status"], duplicate["external_id"]) == ("duplicate", confirmed["external_id"])
    assert len(booked) == 1


def test_what_each_becomes_in_the_books(agent, root, clock):
    entries = [bank_entry("out"), bank_entry("in", direction="in", entity="Vance Refrigeration", account="Sales"),
               {key: value for key, value in bank_entry("bare", entity=None).items() if key != "entry_number"}]
    send(root, clock, "bank_entries", entries, batch_key="bank")
    send(root, clock, "expense_reports", [expense_report("paid", bank="Checking"), expense_report("owed", "NDF-2")],
         batch_key="reports")
    poll(agent, root)
    by_key = {key: agent.company.transactions[created.txn_type][created.txn_id]
              for key, created in agent.company.keys.items()}
    assert by_key["out"]["bank_account"]["name"] == "Checking" and by_key["out"]["entity"]["name"] == "Nick Brown"
    assert by_key["in"]["lines"][0]["entity"]["name"] == "Vance Refrigeration"  # each Deposit line names it
    assert "entity" not in by_key["bare"] and "entry_number" not in by_key["bare"]  # neither is needed
    assert by_key["paid"]["payee"]["name"] == "Nick Brown" and "open_balance" not in by_key["paid"]
    assert by_key["owed"]["vendor"]["name"] == "Nick Brown" and by_key["owed"]["open_balance"] == Decimal("65.00")
    assert {key: created.txn_type for key, created in agent.company.keys.items()} == {
        "out": "check", "in": "deposit", "bare": "check", "paid": "check", "owed": "bill"}


REFUSALS = [
    ("bank_entries", lambda: bank_entry("x", bank="Office Supplies"), "/records/0/bank_account",
     "wrong_account_type", "account 'Office Supplies' is Expense; this needs Bank"),
    ("bank_entries", lambda: bank_entry("x", bank="Undeposited Funds"), "/records/0/bank_account",
     "wrong_account_type", "is OtherCurrentAsset; this needs Bank"),
    ("bank_entries", lambda: bank_entry("x", bank="Savings"), "/records/0/bank_account", "unknown_reference",
     "no account named 'Savings'"),
    ("bank_entries", lambda: bank_entry("x", entity="Initech"), "/records/0/entity", "unknown_reference",
     "no vendor or customer named 'Initech'"),
    ("bank_entries", lambda: bank_entry("x", account="Travel"), "/records/0/lines/0/account", "unknown_reference",
     "no account named 'Travel'"),
    ("bank_entries", lambda: bank_entry("x", account="Accounts Payable"), "/records/0/lines/0/account",
     "wrong_account_type", "cannot post to 'Accounts Payable'"),
    ("bank_entries", lambda: bank_entry("x", direction="in", account="Accounts Receivable"),
     "/records/0/lines/0/account", "wrong_account_type", "a deposit line cannot come from 'Accounts Receivable'"),
    ("bank_entries", lambda: {**bank_entry("x"), "txn_date": "2024-12-31"}, "/records/0/txn_date", "closed_period",
     "closing date 2024-12-31"),
    ("bank_entries", lambda: {**bank_entry("x"), "currency": "EUR"}, "/records/0/currency", "wrong_currency",
     "deals in USD, not EUR"),
    ("expense_reports", lambda: expense_report("x", payee="Acme Staplers"), "/records/0/payee", "unknown_reference",
     "no vendor named 'Acme Staplers'"),
    ("expense_reports", lambda: expense_report("x", payee="Acme Staplers", bank="Checking"), "/records/0/payee",
     "unknown_reference", "no vendor named 'Acme Staplers'"),
    ("expense_reports", lambda: expense_report("x", bank="Sales"), "/records/0/bank_account", "wrong_account_type",
     "account 'Sales' is Income; this needs Bank"),
    ("expense_reports", lambda: expense_report("x", account="Travel"), "/records/0/lines/0/account",
     "unknown_reference", "no account named 'Travel'"),
    ("expense_reports", lambda: expense_report("x", number="N-0"), "/records/0/report_number",
     "duplicate_document_number", "report number 'N-0' is already used"),
    ("expense_reports", lambda: {**expense_report("x", bank="Checking"), "txn_date": "2024-12-31"},
     "/records/0/txn_date", "closed_period", "closing date 2024-12-31"),
]


@pytest.mark.parametrize("kind, make, field, code, words", REFUSALS,
                         ids=[f"{kind}:{field.removeprefix('/records/0/')}:{code}:{n}"
                              for n, (kind, _, field, code, _) in enumerate(REFUSALS)])
def test_the_agent_refuses_what_quickbooks_desktop_would_naming_the_field(agent, root, clock, kind, make, field,
                                                                         code, words):
    agent.company.closing_date = date(2024, 12, 31)
    send(root, clock, kind, [SAMPLES[kind]("first", number="N-0")], batch_key="first")
    poll(agent, root)
    before = len(agent.company.keys)
    path = send(root, clock, kind, [make(), SAMPLES[kind]("good", number="GOOD-1")], batch_key="mixed")
    poll(agent, root)
    refused, accepted = answers_to(root, path).records
    assert (refused["status"], refused["error"]["field"], refused["error"]["code"]) == ("rejected", field, code), refused
    assert words in refused["error"]["message"], refused["error"]["message"]
    assert accepted["status"] == "confirmed" and len(agent.company.keys) == before + 1  # the rest of the file goes on


def test_a_foreign_one_is_booked_at_its_rate_else_the_company_s_and_the_answer_says_it(agent, root, clock):
    agent.company.add_list_entry("vendor", "Montreal Cold Storage", currency="CAD")
    agent.company.exchange_rates["CAD"] = Decimal("0.75")
    rated = {**bank_entry("be-rated", entity="Montreal Cold Storage"), "currency": "CAD",
             "exchange_rate": "0.7312456789"}
    own = {**expense_report("er-own", payee="Montreal Cold Storage"), "currency": "CAD"}
    home = expense_report("er-home", "NDF-9", bank="Checking")
    sent = [send(root, clock, "bank_entries", [rated], batch_key="bank"),
            send(root, clock, "expense_reports", [own, home], batch_key="reports")]
    poll(agent, root)
    [entry], [report, in_usd] = (answers_to(root, path).records for path in sent)
    # 42.50 x 0.7312456789 = 31.077..., half up to the cent; 65.00 x 0.75
    assert (entry["exchange_rate"], entry["home_total"]) == (Decimal("0.7312456789"), Decimal("31.08"))
    assert (report["exchange_rate"], report["home_total"]) == (Decimal("0.75"), Decimal("48.75"))
    assert "exchange_rate" not in in_usd and in_usd["status"] == "confirmed"


def test_a_state_file_of_an_agent_before_version_6_loads(agent):
    state = agent.company.to_state()
    for txn_type in ("check", "deposit"):
        del state["transactions"][txn_type]
    assert DesktopCompany.from_state(state).transactions["check"] == {}


# --- the connector ----------------------------------------------------------------------------------

@contextmanager
def _opener(root: Path):
    yield LocalFileSystem(root)


def _connector(root: Path, version: int, kind: str = "quickbooks_desktop") -> FileDropConnector:
    return FileDropConnector(lambda: _opener(root), ENTITY, COMPANY, kind=kind, protocol_version=version)


DAY = date(2025, 1, 31)
VENDOR, CUSTOMER, ACCOUNT, BANK = "80000010-1738400400", "80000011-1738400400", "80000006-1738400400", \
    "80000002-1738400400"
EXPORTS = {
    "bank_entry": BankEntryExport("BQ-1", BANK, "in", "BQ-1", DAY, "EUR", Decimal("300.00"),
                                  (LineExport(Decimal("300.00"), ACCOUNT, "consulting paid"),), "customer", CUSTOMER,
                                  memo="statement line", exchange_rate=Decimal("1.0856000000")),
    "expense_report": ExpenseReportExport("NDF-1", VENDOR, "NDF-1", DAY, "USD", Decimal("57.80"),
                                          (LineExport(Decimal("45.50"), ACCOUNT, "train"),
                                           LineExport(Decimal("12.30"), ACCOUNT, "taxi")), bank_account_id=BANK),
}
MESSAGE = {"bank_entry": "bank_entries", "expense_report": "expense_reports"}


def test_the_connector_builds_each_kind_as_its_schema_says(root):
    connector = _connector(root, 6)
    payloads = {kind: connector.payload(kind, export, f"c0ffee00-0000-4000-8000-00000000000{n}")
                for n, (kind, export) in enumerate(EXPORTS.items())}
    assert payloads["bank_entry"] == {
        "key": "c0ffee00-0000-4000-8000-000000000000", "direction": "in", "bank_account": {"external_id": BANK},
        "entry_number": "BQ-1", "txn_date": "2025-01-31", "currency": "EUR", "total": "300.00",
        "entity": {"external_id": CUSTOMER}, "memo": "statement line", "exchange_rate": "1.0856",
        "lines": [{"account": {"external_id": ACCOUNT}, "amount": "300.00", "description": "consulting paid"}]}
    assert payloads["expense_report"]["payee"] == {"external_id": VENDOR}
    assert payloads["expense_report"]["bank_account"] == {"external_id": BANK}
    assert payloads["expense_report"]["report_number"] == "NDF-1" and payloads["expense_report"]["total"] == "57.80"
    owed = connector.payload("expense_report", ExpenseReportExport("NDF-2", VENDOR, "NDF-2", DAY, "USD",
                                                                   Decimal("1.00"), (LineExport(Decimal("1.00"),
                                                                                                ACCOUNT),)), "k")
    assert "bank_account" not in owed  # owed: the agent books a Bill
    unnumbered = connector.payload("bank_entry", replace(EXPORTS["bank_entry"], doc_number=None), "k")
    assert "entry_number" not in unnumbered  # a statement line often has none; the documents suite asks none
    assert validate_message("bank_entries", message("bank_entries", [unnumbered])) == []
    for kind, payload in payloads.items():
        assert validate_message(MESSAGE[kind], message(MESSAGE[kind], [payload])) == [], kind


def test_the_connector_writes_a_version_6_file_per_kind_and_reads_the_agent_s_answer(root, agent):
    company = agent.company
    brown = company.find_by_name("vendor", "Nick Brown")["key"]
    checking, supplies = company.find_by_name("account", "Checking")["key"], company.find_by_name(
        "account", "Office Supplies")["key"]
    exports = {
        "bank_entry": BankEntryExport("BQ-1", checking, "out", "BQ-1", DAY, "USD", Decimal("42.50"),
                                      (LineExport(Decimal("42.50"), supplies),), "vendor", brown),
        "expense_report": ExpenseReportExport("NDF-1", brown, "NDF-1", DAY, "USD", Decimal("57.80"),
                                              (LineExport(Decimal("57.80"), supplies),)),
    }
    connector = _connector(root, 6)
    items = [Outgoing(kind, kind, connector.payload(kind, export, f"key-{kind}"), f"key-{kind}")
             for kind, export in exports.items()]
    outcomes = connector.create_many(items, "batch-1")
    for kind in exports:
        assert isinstance(outcomes[kind], Awaiting) and f"/to_accounting/{MESSAGE[kind]}/" in outcomes[kind].where
        sent = read_inbound(LocalFileSystem(root), outcomes[kind].where, entity_id=ENTITY, company_id=COMPANY)
        assert sent.envelope["protocol_version"] == 6
    assert {kind: type(o) for kind, o in connector.find_existing_many(items).items()} == dict.fromkeys(exports, Awaiting)

    poll(agent, root)
    found = connector.find_existing_many(items)
    assert found["bank_entry"].external_id in company.transactions["check"]
    assert found["expense_report"].external_id in company.transactions["bill"]  # no bank account: owed
    assert all(isinstance(outcome, Created) for outcome in found.values())
    assert connector.acknowledge() == 2


@pytest.mark.parametrize("version", [1, 4, 5])
def test_an_agent_before_version_6_is_declared_unable_to_take_them_saying_why(root, version):
    connector = _connector(root, version)
    assert not {"bank_entry", "expense_report"} & connector.capabilities.kinds
    reasons = connector.capabilities.kinds_not_carried
    assert reasons["bank_entry"] == (
        f"the entity's desktop agent speaks file-drop protocol version {version}, which has no bank_entries message "
        "(version 6 added it: QuickBooks Desktop's Check and Deposit); once the agent is upgraded, set the "
        "connection's extra protocol_version to 6 and the next run sends it")
    assert "(version 6 added it: QuickBooks Desktop's Check or Bill)" in reasons["expense_report"]
    with pytest.raises(TypeError, match=rf"kind 'bank_entry' \(protocol version {version}\)"):
        connector.payload("bank_entry", EXPORTS["bank_entry"], "k")
    other_system = _connector(root, version, kind="desktop_file_drop").capabilities.kinds_not_carried
    assert "(version 6 added it); once the agent" in other_system["expense_report"]


def test_version_6_carries_everything_the_file_drop_has(root):
    six = _connector(root, 6).capabilities
    assert {"bank_entry", "expense_report", "credit_note", "attachment", "bill"} <= six.kinds
    assert six.kinds_not_carried == {}
