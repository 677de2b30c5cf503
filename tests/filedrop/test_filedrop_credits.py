"""Protocol version 4's credit notes, vendor credits and sales receipts (QuickBooks Desktop's CreditMemo,
VendorCredit, SalesReceipt): their schemas name the record and the field of a bad message; a file of one
says version 4, and one saying an older version is refused whole; the desktop agent books each once, refuses
an unknown reference naming the field, books a foreign one at its rate; the connector sends them only to an
agent declared version 4 and says why not to an older one."""
from __future__ import annotations

import json
from contextlib import contextmanager
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
    changed,
    credit_note,
    drop,
    message,
    sales_receipt,
    send,
    vendor_credit,
)
from ledgerbridge.connectors.base import (
    AttachmentExport,
    Awaiting,
    Created,
    CreditNoteExport,
    LineExport,
    Outgoing,
    SalesLineExport,
    SalesReceiptExport,
    VendorCreditExport,
)
from ledgerbridge.connectors.errors import RecordRejected
from ledgerbridge.connectors.filedrop import FileDropConnector
from ledgerbridge.filedrop import LocalFileSystem, Rejection, read_inbound, validate_message
from ledgerbridge.filedrop.protocol import message_version
from ledgerbridge.sandbox.desktop import DesktopCompany

SAMPLES = {"credit_notes": credit_note, "vendor_credits": vendor_credit, "sales_receipts": sales_receipt}
# Message kind -> where the desktop company keeps it.
BOOKED_AS = {"credit_notes": "credit_memo", "vendor_credits": "vendor_credit", "sales_receipts": "sales_receipt"}
NUMBER = {"credit_notes": "credit_note_number", "vendor_credits": "credit_number", "sales_receipts": "receipt_number"}


# --- the schemas and the version --------------------------------------------------------------------

@pytest.mark.parametrize("kind", SAMPLES)
def test_a_sample_of_each_kind_passes_its_schema_as_version_4(kind):
    assert message_version(kind, [SAMPLES[kind]()]) == 4
    assert validate_message(kind, message(kind)) == []
    assert validate_message(kind, message(kind, [{**SAMPLES[kind](), "currency": "EUR",
                                                  "exchange_rate": "1.0856"}])) == []


BAD = [
    ("credit_notes", "/records/1/customer", None, "schema", "is required but missing"),
    ("credit_notes", "/records/1/lines/0/amount", 150.0, "schema", "is the JSON number 150.0"),
    ("credit_notes", "/records/1/total", "150.01", "inconsistent", "not the sum of the line amounts (150.00)"),
    ("credit_notes", "/records/1/lines/0/unit_price", "149.00", "inconsistent",
     "amount 150.00 is not quantity x unit_price (1 x 149.00 = 149.00)"),  # named on the line's amount
    ("credit_notes", "/records/1/due_date", "2025-03-01", "schema", "is not a field of this message"),
    ("vendor_credits", "/records/1/credit_number", "X" * 21, "schema", "a document number of 1 to 20 characters"),
    ("vendor_credits", "/records/1/total", "30.5", "inconsistent", None),  # equal as a decimal: passes
    ("vendor_credits", "/records/1/total", "31.00", "inconsistent", "not the sum of the line amounts (30.50)"),
    ("vendor_credits", "/records/1/lines/0/account", {}, "schema", "is not valid: a reference to a list entry"),
    ("vendor_credits", "/records/1/exchange_rate", "0", "schema", "above zero"),
    ("sales_receipts", "/records/1/deposit_account", "Checking", "schema", "must be object"),
    ("sales_receipts", "/records/1/txn_date", "2025-02-30", "schema", "is not a calendar date"),
    ("sales_receipts", "/records/1/total", "-300.00", "schema", "a decimal string of zero or more"),
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
    field = pointer.replace("/unit_price", "/amount")  # a line's arithmetic is named on its amount
    assert (problem.code, problem.field, problem.record_index, problem.record_key) == (
        code, field, 1, f"{kind}-bad"), problem
    assert words in problem.reason, problem.reason


@pytest.mark.parametrize("kind", SAMPLES)
@pytest.mark.parametrize("version", [1, 3])
def test_a_file_of_a_version_4_kind_saying_an_older_version_is_refused_whole(root, kind, version):
    path = drop(root, kind, message(kind, protocol_version=version))
    result = read_inbound(LocalFileSystem(root), path.relative_to(root).as_posix(), entity_id=ENTITY,
                          company_id=COMPANY)
    assert isinstance(result, Rejection)
    assert (result.code, result.field) == ("protocol_version", "/protocol_version")
    assert f"is a {kind} message, which protocol_version 4 introduced, but says protocol_version {version}" \
        in result.reason


# --- the agent --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", SAMPLES)
def test_the_agent_books_each_kind_once_and_answers_its_txn_id(agent, root, clock, kind):
    sent = send(root, clock, kind, [SAMPLES[kind]()])
    assert json.loads((root / sent).read_text())["protocol_version"] == 4
    poll(agent, root)
    answer = answers_to(root, sent)
    assert answer.envelope["protocol_version"] == 4 and answer.envelope["in_reply_to"]["kind"] == kind
    [confirmed] = answer.records
    assert confirmed["status"] == "confirmed"
    booked = agent.company.transactions[BOOKED_AS[kind]]
    stored = booked[confirmed["external_id"]]
    assert stored[NUMBER[kind]] == SAMPLES[kind]()[NUMBER[kind]] and stored["total"] == Decimal(SAMPLES[kind]()["total"])
    assert DesktopCompany.load(agent.state_file).transactions[BOOKED_AS[kind]].keys() == booked.keys()

    again = send(root, clock, kind, [SAMPLES[kind]()], batch_key="batch-2")  # the same record, sent again
    poll(agent, root)
    [duplicate] = answers_to(root, again).records
    assert (duplicate["status"], duplicate["external_id"]) == ("duplicate", confirmed["external_id"])
    assert len(booked) == 1


def test_credit_balances_stay_open_and_a_receipt_goes_to_undeposited_funds_by_default(agent, root, clock):
    receipt = {key: value for key, value in sales_receipt().items() if key != "deposit_account"}
    sent = [send(root, clock, kind, [record], batch_key=kind.replace("_", "-"))
            for kind, record in (("credit_notes", credit_note()), ("vendor_credits", vendor_credit()),
                                 ("sales_receipts", receipt))]
    poll(agent, root)
    [memo], [credit], [sale] = (agent.company.transactions[t].values()
                                for t in ("credit_memo", "vendor_credit", "sales_receipt"))
    assert (memo["open_balance"], credit["open_balance"]) == (Decimal("150.00"), Decimal("30.50"))
    assert memo["customer"]["name"] == "Vance Refrigeration" and credit["vendor"]["name"] == "Nick Brown"
    assert sale["deposit_account"]["name"] == "Undeposited Funds" and "open_balance" not in sale
    assert all(answers_to(root, path).records[0]["status"] == "confirmed" for path in sent)


REFUSALS = [
    ("credit_notes", lambda: credit_note("x", customer="Initech"), "/records/0/customer", "unknown_reference",
     "no customer named 'Initech'"),
    ("credit_notes", lambda: {**credit_note("x"), "lines": [{"item": {"name": "Widgets"}, "amount": "150.00"}],
                              "total": "150.00"}, "/records/0/lines/0/item", "unknown_reference",
     "no item named 'Widgets'"),
    ("credit_notes", lambda: {**credit_note("x"), "ar_account": {"name": "Sales"}}, "/records/0/ar_account",
     "wrong_account_type", "needs AccountsReceivable"),
    ("credit_notes", lambda: credit_note("x", number="CN-0"), "/records/0/credit_note_number",
     "duplicate_document_number", "'CN-0' is already used"),
    ("vendor_credits", lambda: vendor_credit("x", vendor="Acme Staplers"), "/records/0/vendor", "unknown_reference",
     "no vendor named 'Acme Staplers'"),
    ("vendor_credits", lambda: vendor_credit("x", account="Travel"), "/records/0/lines/0/account",
     "unknown_reference", "no account named 'Travel'"),
    ("vendor_credits", lambda: vendor_credit("x", account="Accounts Payable"), "/records/0/lines/0/account",
     "wrong_account_type", "cannot post to 'Accounts Payable'"),
    ("vendor_credits", lambda: {**vendor_credit("x"), "currency": "EUR"}, "/records/0/currency", "wrong_currency",
     "deals in USD, not EUR"),
    ("sales_receipts", lambda: sales_receipt("x", customer="Initech"), "/records/0/customer", "unknown_reference",
     "no customer named 'Initech'"),
    ("sales_receipts", lambda: {**sales_receipt("x"), "deposit_account": {"name": "Office Supplies"}},
     "/records/0/deposit_account", "wrong_account_type", "needs Bank or OtherCurrentAsset"),
    ("sales_receipts", lambda: {**sales_receipt("x"), "txn_date": "2024-12-31"}, "/records/0/txn_date",
     "closed_period", "closing date 2024-12-31"),
]


@pytest.mark.parametrize("kind, make, field, code, words", REFUSALS,
                         ids=[f"{kind}:{field.removeprefix('/records/0/')}:{code}" for kind, _, field, code, _ in REFUSALS])
def test_the_agent_refuses_what_quickbooks_desktop_would_naming_the_field(agent, root, clock, kind, make, field,
                                                                         code, words):
    agent.company.closing_date = date(2024, 12, 31)
    send(root, clock, kind, [SAMPLES[kind]("first", number="CN-0")], batch_key="first")
    poll(agent, root)
    booked = agent.company.transactions[BOOKED_AS[kind]]
    before = len(booked)
    path = send(root, clock, kind, [make(), SAMPLES[kind]("good", number="GOOD-1")], batch_key="mixed")
    poll(agent, root)
    refused, accepted = answers_to(root, path).records
    assert (refused["status"], refused["error"]["field"], refused["error"]["code"]) == ("rejected", field, code), refused
    assert words in refused["error"]["message"], refused["error"]["message"]
    assert accepted["status"] == "confirmed" and len(booked) == before + 1  # the rest of the file goes on


def test_a_foreign_credit_note_is_booked_at_its_rate_else_at_the_company_s_own(agent, root, clock):
    agent.company.add_list_entry("customer", "Montreal Cold Storage", currency="CAD")
    agent.company.exchange_rates["CAD"] = Decimal("0.75")
    rated = {**credit_note("cn-rated", customer="Montreal Cold Storage", number="CN-CAD1"), "currency": "CAD",
             "exchange_rate": "0.7312456789"}
    own = {**credit_note("cn-own", customer="Montreal Cold Storage", number="CN-CAD2"), "currency": "CAD"}
    sent = send(root, clock, "credit_notes", [rated, own])
    poll(agent, root)
    first, second = (agent.company.transactions["credit_memo"][r["external_id"]] for r in answers_to(root, sent).records)
    # 150.00 x 0.7312456789 = 109.686..., half up to the cent
    assert (first["exchange_rate"], first["home_total"]) == (Decimal("0.7312456789"), Decimal("109.69"))
    assert (second["exchange_rate"], second["home_total"]) == (Decimal("0.75"), Decimal("112.50"))


def test_a_version_4_kind_in_a_version_3_file_is_refused_whole_and_answered(agent, root):
    path = drop(root, "vendor_credits", message("vendor_credits", protocol_version=3))
    [outcome] = poll(agent, root)
    assert outcome.status == "rejected"
    answer = answers_to(root, path.name)
    assert answer.records == [] and answer.envelope["file_error"]["code"] == "protocol_version"
    assert answer.envelope["protocol_version"] == 4  # answered in the version of its kind
    assert agent.company.transactions["vendor_credit"] == {}


def test_a_state_file_of_an_agent_before_version_4_loads(agent, tmp_path):
    state = agent.company.to_state()
    for txn_type in BOOKED_AS.values():
        del state["transactions"][txn_type]
    assert DesktopCompany.from_state(state).transactions["credit_memo"] == {}


# --- the connector ----------------------------------------------------------------------------------

@contextmanager
def _opener(root: Path):
    yield LocalFileSystem(root)


def _connector(root: Path, version: int) -> FileDropConnector:
    return FileDropConnector(lambda: _opener(root), ENTITY, COMPANY, protocol_version=version)


DAY = date(2025, 1, 31)
CUSTOMER, VENDOR, ITEM, ACCOUNT = "80000011-1738400400", "80000010-1738400400", "80000012-1738400400", \
    "80000006-1738400400"
EXPORTS = {
    "credit_note": CreditNoteExport("CN-1", CUSTOMER, "CN-1", DAY, "USD", Decimal("150.00"),
                                    (SalesLineExport(Decimal("150.00"), ITEM, Decimal("1"), Decimal("150.00")),),
                                    memo="returned compressor"),
    "vendor_credit": VendorCreditExport("VC-1", VENDOR, "NB-C1", DAY, "USD", Decimal("30.50"),
                                        (LineExport(Decimal("30.50"), ACCOUNT, "damaged paper returned"),)),
    "sales_receipt": SalesReceiptExport("SR-1", CUSTOMER, "SR-1", DAY, "EUR", Decimal("300.00"),
                                        (SalesLineExport(Decimal("300.00"), ITEM, Decimal("2"), Decimal("150.00")),),
                                        deposit_account_id="80000002-1738400400", exchange_rate=Decimal("1.0856000000")),
}
MESSAGE = {"credit_note": "credit_notes", "vendor_credit": "vendor_credits", "sales_receipt": "sales_receipts"}


def test_the_connector_builds_each_kind_as_its_schema_says(root):
    connector = _connector(root, 4)
    payloads = {kind: connector.payload(kind, export, f"c0ffee00-0000-4000-8000-00000000000{n}")
                for n, (kind, export) in enumerate(EXPORTS.items())}
    assert payloads["credit_note"] == {
        "key": "c0ffee00-0000-4000-8000-000000000000", "customer": {"external_id": CUSTOMER},
        "credit_note_number": "CN-1", "txn_date": "2025-01-31", "currency": "USD", "total": "150.00",
        "memo": "returned compressor",
        "lines": [{"item": {"external_id": ITEM}, "amount": "150.00", "quantity": "1", "unit_price": "150.00"}]}
    assert payloads["vendor_credit"]["credit_number"] == "NB-C1"
    assert payloads["vendor_credit"]["lines"] == [
        {"account": {"external_id": ACCOUNT}, "amount": "30.50", "description": "damaged paper returned"}]
    assert payloads["sales_receipt"]["deposit_account"] == {"external_id": "80000002-1738400400"}
    assert payloads["sales_receipt"]["exchange_rate"] == "1.0856"
    for kind, payload in payloads.items():
        assert validate_message(MESSAGE[kind], message(MESSAGE[kind], [payload], protocol_version=4)) == [], kind


def test_the_connector_writes_a_version_4_file_per_kind_and_reads_the_agent_s_answer(root, agent):
    vance = agent.company.find_by_name("customer", "Vance Refrigeration")["key"]
    brown = agent.company.find_by_name("vendor", "Nick Brown")["key"]
    consulting = agent.company.find_by_name("item", "Consulting")["key"]
    supplies = agent.company.find_by_name("account", "Office Supplies")["key"]
    exports = {
        "credit_note": CreditNoteExport("CN-1", vance, "CN-1", DAY, "USD", Decimal("150.00"),
                                        (SalesLineExport(Decimal("150.00"), consulting),)),
        "vendor_credit": VendorCreditExport("VC-1", brown, "NB-C1", DAY, "USD", Decimal("30.50"),
                                            (LineExport(Decimal("30.50"), supplies),)),
        "sales_receipt": SalesReceiptExport("SR-1", vance, "SR-1", DAY, "USD", Decimal("300.00"),
                                            (SalesLineExport(Decimal("300.00"), consulting),)),
    }
    connector = _connector(root, 4)
    items = [Outgoing(kind, kind, connector.payload(kind, export, f"key-{kind}"), f"key-{kind}")
             for kind, export in exports.items()]
    outcomes = connector.create_many(items, "batch-1")
    for kind in exports:
        assert isinstance(outcomes[kind], Awaiting) and f"/to_accounting/{MESSAGE[kind]}/" in outcomes[kind].where
        sent = read_inbound(LocalFileSystem(root), outcomes[kind].where, entity_id=ENTITY, company_id=COMPANY)
        assert sent.envelope["protocol_version"] == 4
    assert {kind: type(o) for kind, o in connector.find_existing_many(items).items()} == dict.fromkeys(exports, Awaiting)

    poll(agent, root)
    found = connector.find_existing_many(items)
    booked = {kind: agent.company.transactions[BOOKED_AS[MESSAGE[kind]]] for kind in exports}
    for kind in exports:
        assert isinstance(found[kind], Created) and found[kind].external_id in booked[kind], found[kind]
    assert connector.acknowledge() == 3  # the confirmations, consumed once the ledger has them


def test_an_agent_before_version_4_is_declared_unable_to_take_them_saying_why(root):
    for version in (1, 2, 3):
        connector = _connector(root, version)
        assert not {"credit_note", "vendor_credit", "sales_receipt"} & connector.capabilities.kinds
        reasons = connector.capabilities.kinds_not_carried
        assert reasons["vendor_credit"] == (
            f"the entity's desktop agent speaks file-drop protocol version {version}, which has no vendor_credits "
            "message (version 4 added it: QuickBooks Desktop's VendorCredit); once the agent is upgraded, set the "
            "connection's extra protocol_version to 4 and the next run sends it")
        with pytest.raises(TypeError, match=rf"kind 'credit_note' \(protocol version {version}\)"):
            connector.payload("credit_note", EXPORTS["credit_note"], "k")
    assert set(_connector(root, 1).capabilities.kinds_not_carried) == {"attachment", "credit_note", "vendor_credit",
                                                                        "sales_receipt", "bank_entry", "expense_report"}
    other_system = FileDropConnector(lambda: _opener(root), ENTITY, COMPANY, kind="desktop_file_drop",
                                     protocol_version=3).capabilities.kinds_not_carried["credit_note"]
    assert "(version 4 added it); once the agent" in other_system  # QuickBooks' name only for QuickBooks Desktop
    four = _connector(root, 4).capabilities
    assert {"credit_note", "vendor_credit", "sales_receipt", "attachment", "bill"} <= four.kinds
    assert set(four.kinds_not_carried) == {"bank_entry", "expense_report"}  # version 6's


def test_an_attachment_to_a_credit_note_is_refused_alone_not_the_step_saying_to_upgrade(root):
    connector = _connector(root, 4)
    to_note = AttachmentExport("HA-1", "credit.pdf", "application/pdf", "credit_note", "1A2C-1738400000")
    to_bill = AttachmentExport("HA-2", "bill.pdf", "application/pdf", "bill", "1A2D-1738400000")
    items = [Outgoing(str(n), "attachment", connector.payload("attachment", export, f"att-{n}"), f"att-{n}",
                      content=b"%PDF-1.4") for n, export in enumerate((to_note, to_bill))]
    outcomes = connector.create_many(items, "batch-1")
    assert isinstance(outcomes["0"], RecordRejected) and outcomes["0"].element == "document_type"
    assert "attaches files to bill, invoice, journal_entry only" in str(outcomes["0"])
    assert "set the connection's extra protocol_version to 7 and the next run sends it" in str(outcomes["0"])
    assert isinstance(outcomes["1"], Awaiting)
