"""Protocol version 8: the agent's lists carry journal codes (list_type journal_code: code, name, journal_type) and
a vendor's or customer's auxiliary (sub-ledger) account and the collective account it rolls up to. Any of them in a
lists file of an older version is refused for that record, naming record and field; the connector mirrors them
(a journal code by its code, its type as account_type); the desktop agent sandbox publishes them for a company
keeping sub-ledgers (not QuickBooks Desktop's) when it speaks 8, and leaves them out when told an older version."""
from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import pytest
from drop_samples import COMPANY, ENTITY, MODIFIED, changed, drop, list_entries, message
from ledgerbridge.connectors.filedrop import FileDropConnector
from ledgerbridge.filedrop import (
    InboundMessage,
    LocalFileSystem,
    list_inbound,
    load_schema,
    read_inbound,
    validate_message,
)
from ledgerbridge.filedrop.protocol import JOURNAL_TYPES, message_version
from ledgerbridge.sandbox.desktop import DesktopAgent, DesktopCompany, seed_demo, seed_sub_ledgers

AP_ACCOUNT = "80000007-1738000000"
EVERY_REFERENCE = dict.fromkeys(FileDropConnector.capabilities.reference_kinds)


def journal_code(key: str = "80000010-1738000000", code: str = "ACH", name: str = "Achats",
                 journal_type: str = "purchases") -> dict:
    return {"key": key, "list_type": "journal_code", "name": name, "code": code, "journal_type": journal_type,
            "active": True, "modified_at": MODIFIED}


def sub_ledger_entries() -> list[dict]:
    """The sample lists, an A/P account, a journal code, and the vendor's auxiliary and collective accounts."""
    entries = list_entries()
    entries[0] |= {"auxiliary_account": "FBROWN", "collective_account": {"external_id": AP_ACCOUNT}}
    entries[1] |= {"auxiliary_account": "CVANCE"}  # a customer without a collective account of its own
    return [*entries, {"key": AP_ACCOUNT, "list_type": "account", "name": "Fournisseurs", "account_type":
                       "AccountsPayable", "number": "401000", "active": True, "modified_at": MODIFIED},
            journal_code()]


def lists_file(records: list[dict], version: int = 8, batch_key: str = "batch-1") -> dict:
    return message("lists", records, batch_key=batch_key, protocol_version=version)


# --- the schema and the version ------------------------------------------------------------------------

def test_a_version_8_lists_file_with_journal_codes_and_auxiliary_accounts_passes():
    records = sub_ledger_entries()
    assert message_version("lists", records) == 8
    assert message_version("lists", list_entries()) == 1  # without them, what an older reader reads
    assert message_version("lists", [journal_code()]) == 8
    assert validate_message("lists", lists_file(records)) == []
    for journal_type in JOURNAL_TYPES:
        assert validate_message("lists", lists_file([journal_code(journal_type=journal_type)])) == []
    assert load_schema("lists")["$defs"]["entry"]["properties"]["journal_type"]["enum"] == list(JOURNAL_TYPES)


# (the record changed, the field the refusal names) in a file of an older version
NEWER_THAN_THE_FILE = [
    (lambda: list_entries()[0] | {"auxiliary_account": "FBROWN"}, "auxiliary_account"),
    (lambda: list_entries()[1] | {"collective_account": {"external_id": AP_ACCOUNT}}, "collective_account"),
    (journal_code, "list_type"),
    (journal_code, "code"),
    (journal_code, "journal_type"),
]


@pytest.mark.parametrize("version", [1, 7])
@pytest.mark.parametrize("make, field", NEWER_THAN_THE_FILE, ids=[f"{i}-{f}" for i, (_, f) in
                                                                 enumerate(NEWER_THAN_THE_FILE)])
def test_each_version_8_field_in_an_older_file_is_refused_naming_record_and_field(make, field, version):
    record = make()
    file = lists_file([list_entries()[2], record], version)
    problems = validate_message("lists", file)
    assert {p.record_index for p in problems} == {1}, [p.describe() for p in problems]  # the good record goes on
    [problem] = [p for p in problems if p.field == f"/records/1/{field}"]
    assert (problem.code, problem.record_key) == ("protocol_version", record["key"])
    assert f"protocol_version 8, but the file says protocol_version {version}" in problem.reason
    assert f"record 1 (key {record['key']!r}), field /records/1/{field}" in problem.describe()
    assert "to a reader speaking it" in problem.reason  # the agent writes lists; LedgerBridge reads them


# pointer changed, new value, the field the problem must name, words the reason must hold
FAILING = [
    ("/records/7/journal_type", "misc", "/records/7/journal_type", "not one of"),
    ("/records/7/journal_type", "Purchases", "/records/7/journal_type", "not one of"),
    ("/records/7/code", "A" * 21, "/records/7/code", "journal code of 1 to 20 characters"),
    ("/records/7/code", "", "/records/7/code", "journal code of 1 to 20 characters"),
    ("/records/7/code", None, "/records/7/code", "must be string"),
    ("/records/7/journal_type", None, "/records/7/journal_type", "not one of"),
    ("/records/0/auxiliary_account", "F" * 18, "/records/0/auxiliary_account", "1 to 17 characters"),
    ("/records/0/auxiliary_account", "", "/records/0/auxiliary_account", "1 to 17 characters"),
    ("/records/0/auxiliary_account", "F\tBROWN", "/records/0/auxiliary_account", "without control characters"),
    ("/records/0/collective_account", {"name": "Fournisseurs"}, "/records/0/collective_account/external_id",
     "required"),
    ("/records/0/collective_account", AP_ACCOUNT, "/records/0/collective_account", "must be object"),
    ("/records/6/auxiliary_account", "401", "/records/6/auxiliary_account", "does not belong"),
    ("/records/2/collective_account", {"external_id": AP_ACCOUNT}, "/records/2/collective_account", "does not belong"),
    ("/records/0/journal_type", "purchases", "/records/0/journal_type", "does not belong"),
    ("/records/6/code", "401", "/records/6/code", "does not belong"),
    ("/records/7/account_type", "Expense", "/records/7/account_type", "does not belong"),
    ("/records/7/number", "1", "/records/7/number", "does not belong"),
]


@pytest.mark.parametrize("pointer, value, field, words", FAILING, ids=[f"{c[0]}={c[1]!r}"[:60] for c in FAILING])
def test_a_bad_version_8_field_is_refused_naming_record_and_field(pointer, value, field, words):
    data = changed(lists_file(sub_ledger_entries()), pointer, value)
    problems = validate_message("lists", data)
    problem = next((p for p in problems if p.field == field), None)
    assert problem is not None, [p.describe() for p in problems]
    assert words in problem.reason, problem.describe()
    index = int(field.split("/")[2])
    assert (problem.record_index, problem.record_key) == (index, data["records"][index]["key"])
    assert {p.record_index for p in problems} == {index}


def test_a_17_character_auxiliary_account_passes_and_a_journal_code_needs_its_code_and_type():
    assert validate_message("lists", changed(lists_file(sub_ledger_entries()), "/records/0/auxiliary_account",
                                             "F" * 17)) == []
    bare = {key: value for key, value in journal_code().items() if key not in ("code", "journal_type")}
    problems = validate_message("lists", lists_file([bare]))
    assert {(p.field, p.reason) for p in problems} == {("/records/0/code", "is required but missing"),
                                                       ("/records/0/journal_type", "is required but missing")}


# --- the connector ----------------------------------------------------------------------------------------

def _connector(root: Path, version: int = 1) -> FileDropConnector:
    return FileDropConnector(lambda: nullcontext(LocalFileSystem(root)), ENTITY, COMPANY, protocol_version=version)


@pytest.mark.parametrize("declared", [1, 7, 8])  # read whatever the connection says: nothing is sent for them
def test_the_connector_mirrors_journal_codes_and_the_parties_sub_ledger_accounts(tmp_path, declared):
    drop(tmp_path, "lists", lists_file(sub_ledger_entries()))
    connector = _connector(tmp_path, declared)
    assert "journal_code" in connector.capabilities.reference_kinds

    changes = connector.fetch_changes(EVERY_REFERENCE, datetime.now(UTC)).changes
    connector.acknowledge()

    [journal] = changes["journal_code"]
    assert (journal.external_id, journal.name, journal.number, journal.account_type, journal.active) == (
        "80000010-1738000000", "ACH", None, "purchases", True)
    assert journal.raw["name"] == "Achats" and journal.raw["code"] == "ACH"  # the label is kept
    assert journal.updated_at == datetime(2025, 1, 31, 17, tzinfo=UTC)
    [vendor], [customer] = changes["vendor"], changes["customer"]
    assert (vendor.auxiliary_account, vendor.collective_account) == ("FBROWN", AP_ACCOUNT)
    assert (customer.auxiliary_account, customer.collective_account) == ("CVANCE", None)
    assert AP_ACCOUNT in {account.external_id for account in changes["account"]}
    assert all(ref.auxiliary_account is None and ref.collective_account is None
               for ref in changes["account"] + changes["item"] + changes["term"])
    assert list_inbound(LocalFileSystem(tmp_path), f"{ENTITY}/from_accounting/lists") == []  # consumed


def test_an_older_lists_file_carrying_them_is_refused_naming_record_and_field_and_nothing_is_mirrored(tmp_path):
    bad = drop(tmp_path, "lists", lists_file(sub_ledger_entries(), version=7))
    connector = _connector(tmp_path, 7)

    changes = connector.fetch_changes(EVERY_REFERENCE, datetime.now(UTC)).changes
    connector.acknowledge()

    assert not any(changes.values())  # a lists file is read whole or not at all
    report = json.loads((tmp_path / ENTITY / "rejected" / f"{bad.name}.error.json").read_text())
    assert report["code"] == "protocol_version" and report["field"] == "/records/0/auxiliary_account"
    assert report["message"].startswith("record 0 (key '80000001-1738000000'), field /records/0/auxiliary_account: "
                                        "auxiliary_account is a field of protocol_version 8, but the file says "
                                        "protocol_version 7")
    named = {(p["record_index"], p["field"]) for p in report["problems"]}
    assert named == {(0, "/records/0/auxiliary_account"), (0, "/records/0/collective_account"),
                     (1, "/records/1/auxiliary_account"), (7, "/records/7/list_type"), (7, "/records/7/code"),
                     (7, "/records/7/journal_type")}


# --- the desktop agent sandbox ----------------------------------------------------------------------------

def _company(clock, sub_ledgers: bool = True) -> DesktopCompany:
    company = seed_demo(DesktopCompany(company_id=COMPANY, entity_id=ENTITY, clock=clock, sub_ledgers=sub_ledgers))
    return seed_sub_ledgers(company) if sub_ledgers else company


def _published_lists(root: Path) -> list[InboundMessage]:
    fs = LocalFileSystem(root)
    found = [read_inbound(fs, path, entity_id=ENTITY, company_id=COMPANY)
             for path in list_inbound(fs, f"{ENTITY}/from_accounting/lists")]
    assert all(isinstance(message, InboundMessage) for message in found), found
    return found


def test_a_company_keeping_sub_ledgers_publishes_them_in_version_8(tmp_path, clock):
    root = tmp_path / "drop"
    agent = DesktopAgent(_company(clock), state_file=tmp_path / "state.json")
    assert agent.protocol_version == 8

    assert agent.publish_lists(LocalFileSystem(root), ENTITY) == {"lists": 18, "purchase_orders": 1}

    [lists] = _published_lists(root)
    assert lists.envelope["protocol_version"] == 8
    journals = {r["code"]: r for r in lists.records if r["list_type"] == "journal_code"}
    assert {code: (r["name"], r["journal_type"]) for code, r in journals.items()} == {
        "ACH": ("Achats", "purchases"), "VTE": ("Ventes", "sales"), "BQ": ("Banque", "bank"), "CAI": ("Caisse", "cash"),
        "OD": ("Opérations diverses", "general")}
    accounts = {r["name"]: r["key"] for r in lists.records if r["list_type"] == "account"}
    parties = {r["name"]: r for r in lists.records if r["list_type"] in ("vendor", "customer")}
    assert {name: (r["auxiliary_account"], r["collective_account"]) for name, r in parties.items()} == {
        "Nick Brown": ("FNICKBROWN", {"external_id": accounts["Accounts Payable"]}),
        "Dunder Mifflin Paper": ("FDUNDERMIFFLINPAP", {"external_id": accounts["Accounts Payable"]}),  # 17 at most
        "Vance Refrigeration": ("CVANCEREFRIGERATI", {"external_id": accounts["Accounts Receivable"]})}


def test_an_agent_told_an_older_version_leaves_them_out_then_publishes_them_once_upgraded(tmp_path, clock):
    root, state = tmp_path / "drop", tmp_path / "state.json"
    fs = LocalFileSystem(root)
    agent = DesktopAgent(_company(clock), state_file=state, protocol_version=7)

    assert agent.publish_lists(fs, ENTITY) == {"lists": 13, "purchase_orders": 1}
    [lists] = _published_lists(root)
    assert lists.envelope["protocol_version"] == 1  # nothing newer in it: what any reader reads
    assert not any(r["list_type"] == "journal_code" or "auxiliary_account" in r or "collective_account" in r
                   for r in lists.records)
    assert agent.publish_lists(fs, ENTITY) == {}

    for path in (root / ENTITY / "from_accounting" / "lists").iterdir():
        path.unlink()
    upgraded = DesktopAgent(DesktopCompany.load(state, clock=clock), state_file=state)  # the same books, now 8
    assert upgraded.publish_lists(fs, ENTITY) == {"lists": 18, "purchase_orders": 1}  # everything again
    [lists] = _published_lists(root)
    assert lists.envelope["protocol_version"] == 8
    assert sum(r["list_type"] == "journal_code" for r in lists.records) == 5
    assert upgraded.publish_lists(fs, ENTITY) == {}, "then only changes, as before"

    vendor = next(e for e in upgraded.company.lists["vendor"].values() if e["name"] == "Nick Brown")
    upgraded.company.update_list_entry("vendor", vendor["key"], auxiliary_account="F0001")
    assert upgraded.publish_lists(fs, ENTITY) == {"lists": 1}
    changed_vendor = [r for m in _published_lists(root) for r in m.records if r["key"] == vendor["key"]][-1]
    assert changed_vendor["auxiliary_account"] == "F0001"


def test_quickbooks_desktop_has_no_journal_codes_nor_auxiliary_accounts(clock):
    company = _company(clock, sub_ledgers=False)
    vendor = next(iter(company.lists["vendor"]))
    with pytest.raises(ValueError, match="QuickBooks Desktop has no journal codes"):
        company.add_list_entry("journal_code", "Achats", code="ACH", journal_type="purchases")
    with pytest.raises(ValueError, match="QuickBooks Desktop has no auxiliary_account on a vendor"):
        company.update_list_entry("vendor", vendor, auxiliary_account="F1")
    with pytest.raises(ValueError, match="sub_ledgers=True"):
        seed_sub_ledgers(company)
    assert company.lists["journal_code"] == {}


def test_a_company_keeping_sub_ledgers_checks_what_it_is_given_and_keeps_it_in_its_state(tmp_path, clock):
    company = _company(clock)
    accounts = {e["name"]: e["key"] for e in company.lists["account"].values()}
    vendor = next(iter(company.lists["vendor"]))
    with pytest.raises(ValueError, match="code of its own"):
        company.add_list_entry("journal_code", "Achats bis", code="ach", journal_type="purchases")
    with pytest.raises(ValueError, match="not an account of type AccountsPayable"):
        company.update_list_entry("vendor", vendor, collective_account={"external_id": accounts["Accounts Receivable"]})
    with pytest.raises(ValueError, match="belongs to a vendor or a customer"):
        company.update_list_entry("account", accounts["Sales"], auxiliary_account="706")
    journal = next(iter(company.lists["journal_code"]))
    company.update_list_entry("journal_code", journal, name="Achats France")  # its own code stays its own

    company.save(tmp_path / "state.json")
    loaded = DesktopCompany.load(tmp_path / "state.json", clock=clock)
    assert loaded.sub_ledgers and loaded.to_state()["lists"] == company.to_state()["lists"]
    assert loaded.lists["journal_code"][journal]["name"] == "Achats France"

    older = json.loads((tmp_path / "state.json").read_text())  # a state file of before version 8
    del older["sub_ledgers"], older["published_version"], older["lists"]["journal_code"]
    old = DesktopCompany.from_state(older, clock=clock)
    assert old.lists["journal_code"] == {} and not old.sub_ledgers and old.published_version is None


def test_the_agent_refuses_a_version_it_does_not_speak(clock):
    with pytest.raises(ValueError, match="protocol_version 9"):
        DesktopAgent(_company(clock), protocol_version=9)


@pytest.mark.parametrize("version, journals", [(8, 5), (7, 0)])
def test_the_command_line_makes_a_company_keeping_sub_ledgers_and_publishes_in_its_version(tmp_path, version,
                                                                                         journals):
    from ledgerbridge.sandbox.desktop import main

    root, state = tmp_path / "drop", tmp_path / "state.json"
    assert main(["--root", str(root), "--entity", ENTITY, "--state", str(state), "--company-id", COMPANY,
                 "--sub-ledgers", "--protocol-version", str(version), "--once"]) == 0
    [lists] = _published_lists(root)
    assert sum(r["list_type"] == "journal_code" for r in lists.records) == journals
    assert lists.envelope["protocol_version"] == (8 if journals else 1)
    assert DesktopCompany.load(state).sub_ledgers and DesktopCompany.load(state).published_version == version
