"""Journal codes and the parties' auxiliary accounts through the file drop (protocol version 8): a desktop company
keeping sub-ledgers (a Sage- or EBP-like system, not QuickBooks Desktop) publishes its journals and each vendor's and
customer's auxiliary and collective accounts; one reference pull mirrors them in the ledger, where a journal is
found by its code. An agent speaking version 7 leaves them out; upgraded, it publishes them and the next pull
adds them. Over a local folder and the embedded SFTP server, on each ledger database."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from ledgerbridge.ledger.mirror import Resolver
from ledgerbridge.ledger.models import ReferenceRecord
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.desktop.agent import DesktopAgent
from ledgerbridge.sandbox.desktop.company import DesktopCompany, seed_demo, seed_sub_ledgers
from desktop_drop import ENTITY, desk_entity, desktop_drop, run_desk
from desktop_drop import drop_files as _files

JOURNALS = {"ACH": ("purchases", "Achats"), "VTE": ("sales", "Ventes"), "BQ": ("bank", "Banque"),
            "CAI": ("cash", "Caisse"), "OD": ("general", "Opérations diverses")}
AUXILIARIES = {("vendor", "Nick Brown"): ("FNICKBROWN", "Accounts Payable"),
               ("vendor", "Dunder Mifflin Paper"): ("FDUNDERMIFFLINPAP", "Accounts Payable"),
               ("customer", "Vance Refrigeration"): ("CVANCEREFRIGERATI", "Accounts Receivable")}


def _entity() -> LegalEntity:
    return desk_entity(())


def _company() -> DesktopCompany:
    return seed_sub_ledgers(seed_demo(DesktopCompany(company_id=f"QBD-{ENTITY}", entity_id=ENTITY, sub_ledgers=True)))


@pytest.fixture(params=["local", "embedded_sftp"])
def transport(request) -> str:
    return request.param


def _mirror(ledger) -> dict[str, dict[str, ReferenceRecord]]:
    """kind -> name -> the entity's mirrored row."""
    with ledger.session() as session:
        rows = session.scalars(select(ReferenceRecord).where(ReferenceRecord.entity_id == ENTITY)).all()
        session.expunge_all()
    found: dict[str, dict[str, ReferenceRecord]] = {}
    for row in rows:
        found.setdefault(row.kind, {})[row.name] = row
    return found


def _assert_sub_ledgers_mirrored(ledger) -> None:
    mirror = _mirror(ledger)
    journals = mirror["journal_code"]
    assert {code: (row.account_type, row.data["name"], row.number, row.active) for code, row in journals.items()} == {
        code: (journal_type, label, None, True) for code, (journal_type, label) in JOURNALS.items()}
    assert all(row.data["code"] == code and row.external_id for code, row in journals.items())
    accounts = {name: row.external_id for name, row in mirror["account"].items()}
    assert {(kind, name): (row.auxiliary_account, row.collective_account)
            for kind in ("vendor", "customer") for name, row in mirror[kind].items()} == {
        party: (auxiliary, accounts[collective]) for party, (auxiliary, collective) in AUXILIARIES.items()}
    assert all(row.auxiliary_account is None and row.collective_account is None for row in mirror["account"].values())
    with ledger.session() as session:  # the mirror finds a journal by its code, as an entry names it
        resolver = Resolver(session, ENTITY)
        assert resolver.journal_code_id("ACH") == journals["ACH"].external_id
        assert resolver.journal_code_id("od") == journals["OD"].external_id
        assert resolver.journal_codes.get("Achats") is None  # the label is not a code


@pytest.mark.parametrize("declared", [7, 8])  # what the connection says changes nothing: nothing is sent for them
def test_journal_codes_and_auxiliary_accounts_reach_the_ledger_mirror(ledger, tmp_path: Path, transport, declared):
    with desktop_drop(transport, tmp_path, declared, company=_company()) as (agent, fs, conn, root):
        assert agent.publish_lists(fs, ENTITY) == {"lists": 18, "purchase_orders": 1}

        report = run_desk(ledger, conn, _entity())

        assert report["pull_reference"]["journal_code"]["received"] == 5
        assert report["pull_reference"]["journal_code"]["new"] == 5
        assert report["pull_reference"]["vendor"]["received"] == 2
        assert report["check_reference"]["journal_code"] == {"checked": 5, "failed": 0}  # the reference suite too
        assert _files(root, "from_accounting/lists") == [] and _files(root, "rejected") == []
        _assert_sub_ledgers_mirrored(ledger)

        again = run_desk(ledger, conn, _entity())  # nothing new published: nothing read
        assert again["pull_reference"]["journal_code"]["received"] == 0
        assert len(_mirror(ledger)["journal_code"]) == 5


def test_an_agent_of_version_7_leaves_them_out_and_once_upgraded_they_arrive(ledger, tmp_path: Path, transport):
    with desktop_drop(transport, tmp_path, 7, company=_company(), agent_version=7) as (agent, fs, conn, root):
        agent.publish_lists(fs, ENTITY)
        first = run_desk(ledger, conn, _entity())
        assert first["pull_reference"]["journal_code"]["received"] == 0
        assert first["pull_reference"]["vendor"]["received"] == 2
        mirror = _mirror(ledger)
        assert "journal_code" not in mirror
        assert all(row.auxiliary_account is None and row.collective_account is None
                   for kind in ("vendor", "customer") for row in mirror[kind].values())

        upgraded = DesktopAgent(agent.company, state_file=agent.state_file)  # the same books, now speaking 8
        assert upgraded.publish_lists(fs, ENTITY) == {"lists": 18, "purchase_orders": 1}  # all again
        second = run_desk(ledger, conn, _entity())

        assert second["pull_reference"]["journal_code"]["new"] == 5
        assert second["pull_reference"]["vendor"]["updated"] == 2  # the same vendors, now with their accounts
        _assert_sub_ledgers_mirrored(ledger)
        assert _files(root, "rejected") == []
