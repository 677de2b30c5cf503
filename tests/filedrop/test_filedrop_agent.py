"""The desktop agent sandbox: books like QuickBooks Desktop, answers every file, creates each record once."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from drop_samples import (
    COMPANY,
    ENTITY,
    bill,
    bill_payment,
    customer_payment,
    drop,
    invoice,
    journal_entry,
    message,
    send,
)
from ledgerbridge.filedrop import (
    InboundMessage,
    LocalFileSystem,
    list_inbound,
    read_inbound,
)
from ledgerbridge.sandbox.desktop import (
    DesktopAgent,
    DesktopCompany,
    main,
    post_payment,
)

TXN_ID = re.compile(r"[0-9A-F]+-\d{10}")


def answers(root: Path) -> dict[str, list[dict]]:
    """Confirmation records per answered file name, each confirmation file read by the strict reader."""
    fs, found = LocalFileSystem(root), {}
    for path in list_inbound(fs, f"{ENTITY}/confirmations"):
        confirmation = read_inbound(fs, path, entity_id=ENTITY, company_id=COMPANY)
        assert isinstance(confirmation, InboundMessage), confirmation
        found.setdefault(confirmation.envelope["in_reply_to"]["file"], []).append(confirmation)
    return found


def only_answer(root: Path, sent_path: str) -> list[dict]:
    [confirmation] = answers(root)[sent_path.rsplit("/", 1)[1]]
    return confirmation.records


def poll(agent: DesktopAgent, root: Path):
    return agent.process(LocalFileSystem(root), ENTITY)


def txn_count(agent: DesktopAgent) -> int:
    return sum(len(txns) for txns in agent.company.transactions.values())


# --- happy path --------------------------------------------------------------------------------

def test_every_kind_is_recorded_and_confirmed_with_txn_ids(agent, root, clock):
    sent = {
        "payments": send(root, clock, "payments", [bill_payment(amount="60.50"), customer_payment(amount="375.00")]),
        "bills": send(root, clock, "bills", [bill(), bill("bill-2", vendor="Dunder Mifflin Paper", number="DM-9")]),
        "invoices": send(root, clock, "invoices", [invoice()]),
        "journal_entries": send(root, clock, "journal_entries", [journal_entry()]),
    }
    outcomes = poll(agent, root)
    assert [o.status for o in outcomes] == ["processed"] * 4
    ids = []
    for path in sent.values():
        records = only_answer(root, path)
        assert {r["status"] for r in records} == {"confirmed"}, records
        assert all(TXN_ID.fullmatch(r["external_id"]) for r in records)
        ids += [r["external_id"] for r in records]
        assert (root / ENTITY / "processed" / path.rsplit("/", 1)[1]).exists()
    assert len(set(ids)) == len(ids) == 6
    bills = agent.company.transactions["bill"]
    assert bills[only_answer(root, sent["bills"])[0]["external_id"]]["open_balance"] == Decimal("40.00")
    assert list_inbound(LocalFileSystem(root), f"{ENTITY}/to_accounting/bills") == []


# --- idempotency -------------------------------------------------------------------------------

def test_the_same_file_twice_creates_nothing_new(agent, root, clock):
    path = send(root, clock, "bills", [bill(), bill("bill-2", number="NB-1002")])
    poll(agent, root)
    first = only_answer(root, path)
    created = txn_count(agent)
    shutil.copy(root / ENTITY / "processed" / path.rsplit("/", 1)[1], root / path)  # dropped again
    poll(agent, root)
    second = max(answers(root)[path.rsplit("/", 1)[1]], key=lambda c: c.created_at).records
    assert [r["status"] for r in second] == ["duplicate", "duplicate"]
    assert [r["external_id"] for r in second] == [r["external_id"] for r in first]
    assert txn_count(agent) == created
    assert sorted(os.listdir(root / ENTITY / "processed")) == sorted(
        [path.rsplit("/", 1)[1], path.rsplit("/", 1)[1].replace(".json", "~2.json")])


def test_the_same_key_in_two_files_is_created_once(agent, root, clock):
    first = send(root, clock, "bills", [bill()], batch_key="first")
    poll(agent, root)
    second = send(root, clock, "bills", [bill(), bill("bill-2", number="NB-1002")], batch_key="second")
    poll(agent, root)
    original = only_answer(root, first)[0]["external_id"]
    again, new = only_answer(root, second)
    assert (again["status"], again["external_id"]) == ("duplicate", original)
    assert new["status"] == "confirmed" and new["external_id"] != original
    assert len(agent.company.transactions["bill"]) == 2


def test_a_key_reused_for_different_content_is_refused(agent, root, clock):
    send(root, clock, "bills", [bill()], batch_key="first")
    poll(agent, root)
    path = send(root, clock, "bills", [bill(amounts=("999.00",), number="NB-2000")], batch_key="second")
    poll(agent, root)
    [refused] = only_answer(root, path)
    assert refused["status"] == "rejected" and refused["error"]["code"] == "key_reused"
    assert refused["error"]["field"] == "/records/0/key" and "different content" in refused["error"]["message"]


def test_a_crash_before_the_confirmation_is_answered_with_the_same_txn_ids(agent, root, clock, tmp_path):
    path = send(root, clock, "bills", [bill()])
    poll(agent, root)
    [confirmed] = only_answer(root, path)
    # The crash: state saved, but neither the confirmation nor the move happened.
    name = path.rsplit("/", 1)[1]
    shutil.move(root / ENTITY / "processed" / name, root / path)
    for confirmation in (root / ENTITY / "confirmations").iterdir():
        confirmation.unlink()
    restarted = DesktopAgent(DesktopCompany.load(tmp_path / "state.json", clock=clock), tmp_path / "state.json")
    poll(restarted, root)
    [answered] = only_answer(root, path)
    assert (answered["status"], answered["external_id"]) == ("duplicate", confirmed["external_id"])
    assert len(restarted.company.transactions["bill"]) == 1


# --- business refusals: the record is refused alone, named by field; nothing of it is recorded ----

def _paid_bill(agent, root, clock):
    send(root, clock, "bills", [bill(amounts=("100.00",))], batch_key="setup")
    poll(agent, root)


def _inactive_vendor(agent):
    agent.company.find_by_name("vendor", "Nick Brown")["active"] = False


REFUSALS = [
    ("unknown_vendor", "bills", lambda: bill("b-x", vendor="Nobody Ltd"), None, "/records/0/vendor",
     "unknown_reference", "no vendor named 'Nobody Ltd'"),
    ("unknown_account", "bills", lambda: {**bill("b-x"), "lines": [
        {"account": {"name": "Office Supplies"}, "amount": "80.00"},
        {"account": {"external_id": "80FFFFFF-1700000000"}, "amount": "20.50"}]},
     None, "/records/0/lines/1/account", "unknown_reference", "ListID '80FFFFFF-1700000000'"),
    ("duplicate_bill_number", "bills", lambda: bill("b-x", number="NB-1001"), _paid_bill, "/records/0/bill_number",
     "duplicate_document_number", "'NB-1001' is already used"),
    ("closed_period", "bills", lambda: bill("b-x", txn_date="2024-12-31"),
     lambda agent, root, clock: setattr(agent.company, "closing_date", date(2024, 12, 31)),
     "/records/0/txn_date", "closed_period", "closing date 2024-12-31"),
    ("expense_line_on_payables", "bills", lambda: bill("b-x", account="Accounts Payable"), None,
     "/records/0/lines/0/account", "wrong_account_type", "cannot post to 'Accounts Payable'"),
    ("wrong_currency", "bills", lambda: {**bill("b-x"), "currency": "EUR"}, None, "/records/0/currency",
     "wrong_currency", "deals in USD, not EUR"),
    ("inactive_vendor", "bills", lambda: bill("b-x"), lambda agent, root, clock: _inactive_vendor(agent),
     "/records/0/vendor", "inactive_reference", "inactive"),
    ("payment_over_open_balance", "payments", lambda: bill_payment("p-x", amount="100.01"), _paid_bill,
     "/records/0/applications/0/amount", "over_open_balance", "more than the open balance 100.00"),
    ("two_applications_over_balance", "payments", lambda: {**bill_payment("p-x", amount="120.00"), "applications": [
        {"bill": {"key": "bill-1"}, "amount": "60.00"}, {"bill": {"key": "bill-1"}, "amount": "60.00"}]},
     _paid_bill, "/records/0/applications/1/amount", "over_open_balance", "open balance"),
    ("payment_to_unknown_bill", "payments", lambda: bill_payment("p-x", bill_key="never-sent"), None,
     "/records/0/applications/0/bill", "unknown_document", "created from key 'never-sent'"),
    ("payment_to_another_vendors_bill", "payments",
     lambda: {**bill_payment("p-x"), "vendor": {"name": "Dunder Mifflin Paper"}}, _paid_bill,
     "/records/0/applications/0/bill", "wrong_party", "belongs to 'Nick Brown'"),
    ("payment_from_an_expense_account", "payments",
     lambda: {**bill_payment("p-x"), "bank_account": {"name": "Office Supplies"}}, _paid_bill,
     "/records/0/bank_account", "wrong_account_type", "needs Bank or CreditCard"),
    ("unknown_item", "invoices", lambda: {**invoice("i-x"), "lines": [
        {"item": {"name": "Widgets"}, "amount": "375.00"}]}, None, "/records/0/lines/0/item", "unknown_reference",
     "no item named 'Widgets'"),
    ("payables_line_without_vendor", "journal_entries", lambda: {**journal_entry("je-x"), "lines": [
        journal_entry()["lines"][0], {"account": {"name": "Accounts Payable"}, "credit": "1200.00"}]}, None,
     "/records/0/lines/1/party", "missing_party", "needs a vendor"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[case[0] for case in REFUSALS])
def test_business_refusals_name_the_field_and_the_rest_goes_on(agent, root, clock, case):
    _, kind, make_record, setup, field, code, words = case
    if setup:
        setup(agent, root, clock)
    before = txn_count(agent)
    good = {"bills": lambda: bill("b-good", vendor="Dunder Mifflin Paper", number="GOOD-1"),
            "payments": lambda: customer_payment("p-good", invoice_key="inv-1", amount="375.00"),
            "invoices": lambda: invoice("i-good", number="GOOD-1"),
            "journal_entries": lambda: journal_entry("je-good")}[kind]
    if kind == "payments":
        send(root, clock, "invoices", [invoice()], batch_key="inv")
        poll(agent, root)
        before = txn_count(agent)
    path = send(root, clock, kind, [make_record(), good()], batch_key="mixed")
    poll(agent, root)
    refused, accepted = only_answer(root, path)
    assert refused["status"] == "rejected", refused
    assert refused["error"]["field"] == field and refused["error"]["code"] == code, refused
    assert words in refused["error"]["message"], refused["error"]["message"]
    assert accepted["status"] == "confirmed"
    assert txn_count(agent) == before + 1, "only the good record was recorded"


def test_a_record_breaking_the_schema_is_refused_alone(agent, root, clock):
    good = message("bills", records=[bill(), bill("bill-2", number="NB-2")])
    good["records"][1]["lines"][0]["amount"] = 80.0
    path = drop(root, "bills", good)
    poll(agent, root)
    confirmed, refused = only_answer(root, str(path))
    assert confirmed["status"] == "confirmed"
    assert refused["error"]["field"] == "/records/1/lines/0/amount" and "JSON number" in refused["error"]["message"]


# --- whole files refused ---------------------------------------------------------------------------

@pytest.mark.parametrize("content, code", [
    (b'{"protocol_version": 1, "kind": "bills",', "malformed_json"),
    (json.dumps(message("bills", company_id="QBD-globex")).encode(), "wrong_company"),
    (json.dumps(message("bills", protocol_version=9)).encode(), "protocol_version"),
])
def test_an_unreadable_file_goes_to_rejected_and_is_still_answered(agent, root, content, code):
    before = txn_count(agent)
    path = drop(root, "bills", content)
    [outcome] = poll(agent, root)
    assert outcome.status == "rejected"
    report = json.loads((root / (outcome.moved_to + ".error.json")).read_text())
    assert report["code"] == code and report["file"] == path.name
    [confirmation] = answers(root)[path.name]
    assert confirmation.records == [] and confirmation.envelope["file_error"]["code"] == code
    assert txn_count(agent) == before


def test_a_file_outside_the_naming_rule_is_rejected_without_an_answer(agent, root):
    drop(root, "bills", message("bills"), name="bills.json")
    [outcome] = poll(agent, root)
    assert outcome.status == "rejected" and outcome.confirmation is None
    assert (root / ENTITY / "rejected" / "bills.json.error.json").exists()


def test_a_part_file_is_left_alone_until_it_is_renamed(agent, root, clock):
    final = root / send(root, clock, "bills", [bill()])
    part = final.with_name(final.name + ".part")
    final.rename(part)
    assert poll(agent, root) == []
    assert part.exists()
    assert list((root / ENTITY / "confirmations").iterdir()) == []
    part.rename(final)
    [outcome] = poll(agent, root)
    assert outcome.status == "processed"


# --- publishing ------------------------------------------------------------------------------------

def _published(root: Path) -> dict[str, list[InboundMessage]]:
    fs, found = LocalFileSystem(root), {}
    for inbox in ("lists", "purchase_orders", "payments"):
        for path in list_inbound(fs, f"{ENTITY}/from_accounting/{inbox}"):
            result = read_inbound(fs, path, entity_id=ENTITY, company_id=COMPANY)
            assert isinstance(result, InboundMessage), result
            found.setdefault(result.kind, []).append(result)
    return found


def test_publish_uploads_lists_orders_and_payments_then_only_changes(agent, root, clock):
    fs = LocalFileSystem(root)
    assert agent.publish_lists(fs, ENTITY) == {"lists": 13, "purchase_orders": 1}
    published = _published(root)
    vendors = [r for r in published["lists"][0].records if r["list_type"] == "vendor"]
    assert {v["name"] for v in vendors} == {"Nick Brown", "Dunder Mifflin Paper"}
    assert published["purchase_orders"][0].records[0]["lines"][0]["quantity"] == Decimal(50)
    assert agent.publish_lists(fs, ENTITY) == {}, "nothing changed, nothing uploaded"

    send(root, clock, "bills", [bill(amounts=("100.00",))])
    send(root, clock, "payments", [bill_payment(amount="40.00")])
    poll(agent, root)
    assert agent.publish_lists(fs, ENTITY) == {"payments_made": 1}
    [made] = _published(root)["payments_made"][0].records
    assert made["applications"][0]["bill"]["key"] == "bill-1" and made["amount"] == Decimal("40.00")
    assert TXN_ID.fullmatch(made["key"])
    assert agent.publish_lists(fs, ENTITY, full=True) == {"lists": 13, "purchase_orders": 1, "payments_made": 1}


def test_a_payment_entered_in_quickbooks_flows_back(agent, root, clock):
    send(root, clock, "invoices", [invoice()])
    poll(agent, root)
    invoice_id = agent.company.created_by_key("inv-1").txn_id
    post_payment(agent.company, {"payment_type": "customer_payment", "customer": {"name": "Vance Refrigeration"},
                                 "bank_account": {"name": "Checking"}, "txn_date": "2025-02-03", "currency": "USD",
                                 "amount": Decimal("100.00"), "reference": "CHK-88", "applications": [
                                     {"invoice": {"external_id": invoice_id}, "amount": Decimal("100.00")}]})
    agent.publish_lists(LocalFileSystem(root), ENTITY)
    [received] = _published(root)["payments_received"][0].records
    assert received["applications"] == [{"invoice": {"external_id": invoice_id, "key": "inv-1"},
                                         "amount": Decimal("100.00")}]
    assert agent.company.transactions["invoice"][invoice_id]["open_balance"] == Decimal("275.00")


# --- the command line --------------------------------------------------------------------------------

def test_main_once_processes_publishes_and_keeps_state(tmp_path, clock):
    root, state = tmp_path / "drop", tmp_path / "state.json"
    path = send(root, clock, "bills", [bill()])
    args = ["--root", str(root), "--entity", ENTITY, "--state", str(state), "--company-id", COMPANY, "--once"]
    assert main(args) == 0
    assert only_answer(root, path)[0]["status"] == "confirmed"
    assert "lists" in _published(root)
    assert DesktopCompany.load(state).created_by_key("bill-1") is not None


def test_the_module_runs_as_a_command(tmp_path):
    root, state = tmp_path / "drop", tmp_path / "state.json"
    drop(root, "bills", message("bills", company_id="QBD-acme_us"))
    result = subprocess.run([sys.executable, "-m", "ledgerbridge.sandbox.desktop", "--root", str(root), "--entity",
                             ENTITY, "--state", str(state), "--once", "--no-publish"],
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "1 confirmed" in result.stderr
    assert os.listdir(root / ENTITY / "from_accounting" / "lists") == [], "--no-publish uploads nothing"


def test_hostile_names_and_keys_are_still_answered(agent, root):
    hostile = {**bill("k" * 5000), "x" * 5000: "typo", "lines": [{"account": {"name": "Office Supplies"},
                                                                  "amount": "100.50", "y" * 3000: 1}]}
    path = drop(root, "bills", message("bills", records=[hostile, bill("bill-2", number="NB-2")]))
    assert [outcome.status for outcome in poll(agent, root)] == ["processed"]
    refused, confirmed = only_answer(root, str(path))
    assert refused["key"] == "record-0" and refused["status"] == "rejected"
    assert len(refused["error"]["field"]) <= 500 and confirmed["status"] == "confirmed"


def test_a_whole_file_of_deep_pointers_is_answered(agent, root):
    path = drop(root, "bills", json.dumps(message("bills", x_deep=[[[[[[[[1.5]]]]]]]])).replace(
        '"x_deep"', '"' + "z" * 400 + '"'))
    [outcome] = poll(agent, root)
    assert outcome.status == "rejected"
    [confirmation] = answers(root)[path.name]
    assert confirmation.envelope["file_error"]["code"] == "schema"
