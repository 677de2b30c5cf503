"""Protocol version 3's exchange rate: a foreign document carries the rate it is to be booked at, as an exact
decimal string; a file needing it is written as version 3, one without stays version 1; the desktop agent
books the rate sent (else the company's own), refuses a malformed one naming the field, and creates once."""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from drop_samples import COMPANY, ENTITY, bill, drop, invoice, message, send
from ledgerbridge.connectors.base import BillExport, LineExport, Outgoing
from ledgerbridge.connectors.errors import RecordRejected
from ledgerbridge.connectors.filedrop import FileDropConnector
from ledgerbridge.filedrop import LocalFileSystem, build_message, read_inbound, validate_message
from ledgerbridge.filedrop.protocol import message_version
from ledgerbridge.filedrop.wire import WireError, dumps, from_wire, wire_rate
from ledgerbridge.sandbox.desktop import DesktopCompany

VENDOR = "Lyon Papeterie"


def euro_bill(key: str = "bill-eur", rate: str | None = "1.0856", number: str = "LP-1") -> dict:
    record = {**bill(key, vendor=VENDOR, number=number, amounts=("100.00", "23.45")), "currency": "EUR"}
    return record if rate is None else {**record, "exchange_rate": rate}


@pytest.fixture
def euro_vendor(agent):
    agent.company.add_list_entry("vendor", VENDOR, currency="EUR")


def answers_to(root: Path, sent: str) -> list[dict]:
    fs, name = LocalFileSystem(root), sent.rsplit("/", 1)[1]
    found = [read_inbound(fs, f"{ENTITY}/confirmations/{path.name}", entity_id=ENTITY, company_id=COMPANY)
             for path in sorted((root / ENTITY / "confirmations").glob("*.json"))]
    return [m for m in found if m.envelope["in_reply_to"]["file"] == name]


# --- on the wire --------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate, text", [
    (Decimal("1.0856000000"), "1.0856"),  # as PostgreSQL's Numeric(20, 10) gives it back
    (Decimal("1.0856"), "1.0856"), (Decimal("2"), "2"), (Decimal("2.00"), "2"), (Decimal("1E+2"), "100"),
    (Decimal("0.0000000001"), "0.0000000001"), (Decimal("123456789.1234567891"), "123456789.1234567891"),
])
def test_a_rate_is_written_as_its_exact_decimal_string(rate, text):
    assert wire_rate(rate) == text


@pytest.mark.parametrize("rate, words", [
    (Decimal("1.12345678901"), "more than 10 decimal places"), (Decimal("0"), "not a positive"),
    (Decimal("-1.2"), "not a positive"), (Decimal("NaN"), "not a positive"), (1.0856, "not a positive Decimal"),
    (Decimal("1234567890"), "at most 9 integer digits"),
])
def test_a_rate_that_cannot_be_written_exactly_is_refused(rate, words):
    with pytest.raises(WireError, match=words):
        wire_rate(rate)


def test_a_float_rate_never_reaches_a_file():
    with pytest.raises(WireError, match="float"):
        dumps(message("bills", [{**euro_bill(rate=None), "exchange_rate": 1.0856}]))


def test_a_file_needing_the_rate_is_version_3_and_one_without_stays_version_1():
    assert message_version("bills", [euro_bill(rate=None)]) == 1
    assert message_version("bills", [euro_bill(rate=None), euro_bill("b2")]) == 3
    assert message_version("invoices", [{"exchange_rate": "1.1"}]) == 3
    assert message_version("attachments", []) == 2
    built = build_message("bills", entity_id=ENTITY, company_id=COMPANY, batch_key="b", created_at=date(2025, 1, 1),
                          records=from_wire([euro_bill(rate="1.08560")]))
    assert built["protocol_version"] == 3
    [written] = json.loads(dumps(built))["records"]
    assert written["exchange_rate"] == "1.0856" and isinstance(from_wire(written)["exchange_rate"], Decimal)


# --- the reader: the schema and the version ---------------------------------------------------------

def test_a_version_3_bill_with_a_rate_passes_the_schema():
    assert validate_message("bills", message("bills", [euro_bill()], protocol_version=3)) == []


@pytest.mark.parametrize("value, words", [
    (1.0856, "is the JSON number 1.0856; give it as a decimal string"),
    ("1.12345678901", "at most 10 decimal places"), ("0", "above zero"), ("0.000", "above zero"),
    ("-1.0856", "above zero"), ("1,0856", "a decimal string"), ("1e3", "a decimal string"), ("", "a decimal string"),
    ("1234567890", "a decimal string"),
])
def test_a_malformed_rate_is_named_with_its_record_and_field(value, words):
    data = message("bills", [bill(), euro_bill(rate=value)], protocol_version=3)
    [problem] = validate_message("bills", data)
    assert (problem.code, problem.field, problem.record_index, problem.record_key) == (
        "schema", "/records/1/exchange_rate", 1, "bill-eur")
    assert words in problem.reason, problem.reason


def test_a_rate_in_a_file_of_an_older_version_is_refused_not_ignored():
    for version in (1, 2):
        [problem] = validate_message("bills", message("bills", [bill(), euro_bill()], protocol_version=version))
        assert (problem.code, problem.field, problem.record_index) == (
            "protocol_version", "/records/1/exchange_rate", 1)
        assert f"a field of protocol_version 3, but the file says protocol_version {version}" in problem.reason


# --- the agent -----------------------------------------------------------------------------------------

def test_the_agent_books_a_foreign_bill_at_the_rate_sent_and_creates_it_once(agent, root, clock, euro_vendor):
    sent = send(root, clock, "bills", [euro_bill()])
    assert json.loads((root / sent).read_text())["records"][0]["exchange_rate"] == "1.0856"

    agent.process(LocalFileSystem(root), ENTITY)
    [answer] = answers_to(root, sent)
    assert answer.envelope["protocol_version"] == 3  # answered in its input's version
    [confirmed] = answer.records
    stored = agent.company.transactions["bill"][confirmed["external_id"]]
    # 123.45 x 1.0856 = 134.017..., half up to the cent: QuickBooks Desktop's AmountDueInHomeCurrency
    assert (stored["exchange_rate"], stored["home_total"]) == (Decimal("1.0856"), Decimal("134.02"))
    reloaded = DesktopCompany.load(agent.state_file)  # the state file keeps the rate exactly
    assert reloaded.transactions["bill"][confirmed["external_id"]]["exchange_rate"] == Decimal("1.0856")

    send(root, clock, "bills", [euro_bill()], batch_key="batch-2")  # the same record again
    agent.process(LocalFileSystem(root), ENTITY)
    assert len(agent.company.transactions["bill"]) == 1
    again = send(root, clock, "bills", [euro_bill(rate="1.0900")], batch_key="batch-3")  # same key, other rate
    agent.process(LocalFileSystem(root), ENTITY)
    [[refused]] = [m.records for m in answers_to(root, again)]
    assert (refused["status"], refused["error"]["code"]) == ("rejected", "key_reused")


def test_without_a_rate_the_agent_applies_the_company_s_own(agent, root, clock, euro_vendor):
    agent.company.exchange_rates["EUR"] = Decimal("1.1")
    sent = send(root, clock, "bills", [euro_bill(rate=None)])
    assert json.loads((root / sent).read_text())["protocol_version"] == 1
    agent.process(LocalFileSystem(root), ENTITY)
    [[confirmed]] = [m.records for m in answers_to(root, sent)]
    stored = agent.company.transactions["bill"][confirmed["external_id"]]
    assert (stored["exchange_rate"], stored["home_total"]) == (Decimal("1.1"), Decimal("135.80"))


def test_a_malformed_rate_is_refused_alone_and_the_rest_of_the_file_is_booked(agent, root, clock, euro_vendor):
    records = [euro_bill(rate="1.0856"), euro_bill("bill-bad", rate=1.09, number="LP-2")]
    path = drop(root, "bills", message("bills", records, protocol_version=3))
    agent.process(LocalFileSystem(root), ENTITY)
    [[good, bad]] = [m.records for m in answers_to(root, str(path.relative_to(root)))]
    assert good["status"] == "confirmed"
    assert (bad["status"], bad["key"], bad["error"]["field"], bad["error"]["code"]) == (
        "rejected", "bill-bad", "/records/1/exchange_rate", "schema")
    assert "JSON number 1.09" in bad["error"]["message"]
    assert len(agent.company.transactions["bill"]) == 1


def test_a_rate_in_a_version_1_file_is_refused_by_the_agent_not_dropped(agent, root, clock, euro_vendor):
    path = drop(root, "bills", message("bills", [euro_bill()], protocol_version=1))
    agent.process(LocalFileSystem(root), ENTITY)
    [[refused]] = [m.records for m in answers_to(root, str(path.relative_to(root)))]
    assert (refused["status"], refused["error"]["field"], refused["error"]["code"]) == (
        "rejected", "/records/0/exchange_rate", "protocol_version")
    assert agent.company.transactions["bill"] == {}


def test_a_foreign_invoice_is_booked_at_its_rate(agent, root, clock):
    agent.company.add_list_entry("customer", "Montreal Cold Storage", currency="CAD")
    record = {**invoice("inv-cad", customer="Montreal Cold Storage", number="S-CAD"), "currency": "CAD",
              "exchange_rate": "0.7312456789"}
    sent = send(root, clock, "invoices", [record])
    assert json.loads((root / sent).read_text())["records"][0]["exchange_rate"] == "0.7312456789"
    agent.process(LocalFileSystem(root), ENTITY)
    [[confirmed]] = [m.records for m in answers_to(root, sent)]
    stored = agent.company.transactions["invoice"][confirmed["external_id"]]
    assert (stored["exchange_rate"], stored["home_total"]) == (Decimal("0.7312456789"), Decimal("274.22"))


def test_a_home_currency_document_takes_no_rate_but_1(agent, root, clock):
    sent = send(root, clock, "bills", [{**bill(), "exchange_rate": "1.2"}, {**bill("b-2", number="NB-2"),
                                                                          "exchange_rate": "1"}])
    agent.process(LocalFileSystem(root), ENTITY)
    [[refused, booked]] = [m.records for m in answers_to(root, sent)]
    assert (refused["error"]["field"], refused["error"]["code"]) == ("/records/0/exchange_rate", "home_currency_rate")
    assert booked["status"] == "confirmed"


# --- the connector --------------------------------------------------------------------------------------

@contextmanager
def _opener(root: Path):
    yield LocalFileSystem(root)


def _connector(root: Path, version: int) -> FileDropConnector:
    return FileDropConnector(lambda: _opener(root), ENTITY, COMPANY, protocol_version=version)


def _export(rate: Decimal | None) -> BillExport:
    return BillExport("B-EUR", "80000010-1738400400", "LP-1", date(2025, 1, 30), None, "EUR", Decimal("123.45"),
                      (LineExport(Decimal("123.45"), "80000006-1738400400"),), exchange_rate=rate)


KEY = "c0ffee00-0000-4000-8000-000000000002"


def test_the_connector_sends_the_rate_to_an_agent_speaking_version_3(root):
    connector = _connector(root, 3)
    assert connector.capabilities.own_exchange_rates and "bill" not in connector.capabilities.rates_not_sent
    payload = connector.payload("bill", _export(Decimal("1.0856000000")), KEY)
    assert payload["exchange_rate"] == "1.0856"
    outcome = connector.create_many([Outgoing("1", "bill", payload, KEY)], "batch-1")
    message = read_inbound(LocalFileSystem(root), outcome["1"].where, entity_id=ENTITY, company_id=COMPANY)
    assert message.envelope["protocol_version"] == 3 and message.records[0]["exchange_rate"] == Decimal("1.0856")
    assert "exchange_rate" not in connector.payload("bill", _export(None), KEY)


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_agent_is_declared_unable_to_take_a_rate(root, version):
    connector = _connector(root, version)
    reason = connector.capabilities.rates_not_sent["bill"]
    assert connector.capabilities.own_exchange_rates  # without a rate, the company's own: unchanged
    assert f"speaks file-drop protocol version {version}" in reason and "protocol_version to 3" in reason
    assert "exchange_rate" not in connector.payload("bill", _export(None), KEY)
    # The documents suite holds a rated document for such an agent; one that got past it is refused, not stripped.
    with pytest.raises(ValueError, match=rf"bill B-EUR: carries exchange rate 1.0856, which the agent \(file-drop "
                                         rf"protocol version {version}\) cannot take"):
        connector.payload("bill", _export(Decimal("1.0856")), KEY)


@pytest.mark.parametrize("version", [1, 3, 8])
def test_no_agent_is_declared_able_to_take_a_payments_rate(root, version):
    rates_not_sent = _connector(root, version).capabilities.rates_not_sent
    for kind in ("bill_payment", "customer_payment"):
        assert "carries no exchange rate on a payment (no version does)" in rates_not_sent[kind]


def test_a_rated_payload_queued_before_a_downgrade_is_refused_alone(root):
    rated = _connector(root, 3).payload("bill", _export(Decimal("1.0856")), KEY)
    plain = _connector(root, 3).payload("bill", _export(None), "c0ffee00-0000-4000-8000-000000000003")
    connector = _connector(root, 1)
    outcome = connector.create_many([Outgoing("1", "bill", rated, KEY),
                                     Outgoing("2", "bill", plain, plain["key"])], "batch-1")
    assert isinstance(outcome["1"], RecordRejected) and outcome["1"].element == "exchange_rate"
    assert "protocol version 1" in str(outcome["1"]) and "set protocol_version 3 again" in str(outcome["1"])
    message = read_inbound(LocalFileSystem(root), outcome["2"].where, entity_id=ENTITY, company_id=COMPANY)
    assert message.envelope["protocol_version"] == 1 and [r["key"] for r in message.records] == [plain["key"]]


# --- the booked rate in confirmations (protocol version 5) ------------------------------------------------

def _booked_answer(rate: object = "1.1", home_total: object = "135.80", **entry) -> dict:
    return {"key": "bill-eur", "record_index": 0, "status": "confirmed", "external_id": "1A2C-1738000000",
            "exchange_rate": rate, "home_total": home_total, **entry}


def test_a_version_5_confirmation_may_say_the_booked_rate_and_home_total():
    assert validate_message("confirmations", message("confirmations", [_booked_answer()], protocol_version=5)) == []
    duplicate = _booked_answer(status="duplicate")
    assert validate_message("confirmations", message("confirmations", [duplicate], protocol_version=5)) == []
    plain = {k: v for k, v in _booked_answer().items() if k not in ("exchange_rate", "home_total")}
    assert validate_message("confirmations", message("confirmations", [plain], protocol_version=5)) == []


@pytest.mark.parametrize("entry, field, words", [
    (_booked_answer(rate="1,1"), "/records/0/exchange_rate", "is not a decimal string above zero"),
    (_booked_answer(rate=1.1), "/records/0/exchange_rate", "is the JSON number 1.1; give it as a decimal string"),
    (_booked_answer(rate="0"), "/records/0/exchange_rate", "above zero"),
    (_booked_answer(rate="1.12345678901"), "/records/0/exchange_rate", "at most 10 decimal places"),
    (_booked_answer(home_total="135.801"), "/records/0/home_total", "at most 2 decimal places"),
    (_booked_answer(home_total="-135.80"), "/records/0/home_total", "no sign"),
    (_booked_answer(home_total=135.8), "/records/0/home_total", "is the JSON number 135.8"),
    ({k: v for k, v in _booked_answer().items() if k != "home_total"}, "/records/0/home_total",
     "is required with exchange_rate"),
    ({k: v for k, v in _booked_answer().items() if k != "exchange_rate"}, "/records/0/exchange_rate",
     "is required with home_total"),
])
def test_a_bad_booked_rate_is_named_with_its_record_and_field(entry, field, words):
    [problem] = validate_message("confirmations", message("confirmations", [entry], protocol_version=5))
    assert (problem.code, problem.field, problem.record_index, problem.record_key) == ("schema", field, 0, "bill-eur")
    assert words in problem.reason, problem.reason


def test_a_booked_rate_goes_only_with_a_document_created():
    refused = {"key": "bill-eur", "record_index": 0, "status": "rejected", "exchange_rate": "1.1", "home_total": "1.10",
               "error": {"field": "/records/0/vendor", "message": "no such vendor", "code": "unknown_reference"}}
    fields = {p.field for p in validate_message("confirmations", message("confirmations", [refused],
                                                                         protocol_version=5))}
    assert fields == {"/records/0/exchange_rate", "/records/0/home_total"}
    payments = message("confirmations", [_booked_answer()], protocol_version=5)
    payments["in_reply_to"]["kind"] = "payments"
    fields = {p.field for p in validate_message("confirmations", payments)}
    assert fields == {"/records/0/exchange_rate", "/records/0/home_total"}


@pytest.mark.parametrize("version", [1, 3, 4])
def test_a_booked_rate_in_an_older_confirmation_is_refused_not_ignored(version):
    problems = validate_message("confirmations", message("confirmations", [_booked_answer()],
                                                         protocol_version=version))
    assert {(p.code, p.field) for p in problems} == {("protocol_version", "/records/0/exchange_rate"),
                                                     ("protocol_version", "/records/0/home_total")}
    assert all(f"a field of protocol_version 5, but the file says protocol_version {version}" in p.reason
               for p in problems)


def test_the_agent_answers_a_version_5_file_with_the_rate_it_booked(agent, root, clock, euro_vendor):
    agent.company.exchange_rates["EUR"] = Decimal("1.1")
    records = [euro_bill("bill-own", rate=None), euro_bill("bill-rate", number="LP-2"), bill("bill-usd")]
    sent = send(root, clock, "bills", records, protocol_version=5)
    agent.process(LocalFileSystem(root), ENTITY)
    [answer] = answers_to(root, sent)
    assert answer.envelope["protocol_version"] == 5
    own, rated, home = answer.records
    assert (own["exchange_rate"], own["home_total"]) == (Decimal("1.1"), Decimal("135.80"))  # the company's own
    assert (rated["exchange_rate"], rated["home_total"]) == (Decimal("1.0856"), Decimal("134.02"))  # the one sent
    assert "exchange_rate" not in home and "home_total" not in home  # home currency: no rate
    raw = json.loads((root / ENTITY / "confirmations" / answer.name).read_text())["records"]
    assert (raw[0]["exchange_rate"], raw[0]["home_total"]) == ("1.1", "135.80")  # exact strings on the wire

    again = send(root, clock, "bills", records, batch_key="batch-2", protocol_version=5)  # re-sent: duplicates
    agent.process(LocalFileSystem(root), ENTITY)
    [[own_again, rated_again, _]] = [m.records for m in answers_to(root, again)]
    assert own_again["status"] == "duplicate" and own_again["exchange_rate"] == Decimal("1.1")
    assert rated_again["home_total"] == Decimal("134.02") and len(agent.company.transactions["bill"]) == 3


def test_the_agent_never_says_the_rate_to_a_reader_of_an_older_version(agent, root, clock, euro_vendor):
    agent.company.exchange_rates["EUR"] = Decimal("1.1")
    for version, batch_key in ((1, "batch-1"), (3, "batch-3"), (4, "batch-4")):
        sent = send(root, clock, "bills", [euro_bill(f"bill-{version}", rate=None, number=f"LP-{version}")],
                    batch_key=batch_key, protocol_version=version)
        agent.process(LocalFileSystem(root), ENTITY)
        [[confirmed]] = [m.records for m in answers_to(root, sent)]
        assert confirmed["status"] == "confirmed" and "exchange_rate" not in confirmed, version
        assert agent.company.transactions["bill"][confirmed["external_id"]]["exchange_rate"] == Decimal("1.1")


def test_the_connector_asks_an_agent_speaking_version_5_for_the_booked_rate(root):
    connector = _connector(root, 5)
    payload = connector.payload("bill", _export(None), KEY)
    outcome = connector.create_many([Outgoing("1", "bill", payload, KEY)], "batch-1")
    sent = read_inbound(LocalFileSystem(root), outcome["1"].where, entity_id=ENTITY, company_id=COMPANY)
    assert sent.envelope["protocol_version"] == 5
    older = _connector(root, 4).create_many([Outgoing("1", "bill", payload, KEY)], "batch-2")
    assert read_inbound(LocalFileSystem(root), older["1"].where).envelope["protocol_version"] == 1

    answer = message("confirmations", [{**_booked_answer(), "key": KEY}], protocol_version=5,
                     in_reply_to={"file": outcome["1"].where.rsplit("/", 1)[1], "kind": "bills",
                                  "batch_key": "batch-1"})
    drop(root, "confirmations", answer)
    [(ref, created)] = connector.find_existing_many([Outgoing("1", "bill", payload, KEY)]).items()
    assert (created.external_id, created.exchange_rate, created.home_total) == (
        "1A2C-1738000000", Decimal("1.1"), Decimal("135.80"))
