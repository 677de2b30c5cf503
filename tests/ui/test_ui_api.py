"""What each endpoint of LedgerBridge's plugin says and does, over ledger rows as the pipeline leaves
them: a party in review beside its candidates, a refused bill, a run's reconciliation; and that one
entity's records never move through another entity's URL. The real Airflow app and auth manager."""
from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from ledgerbridge.flows.outbox import idempotency_key
from ledgerbridge.ledger.models import (
    AuditEvent,
    Document,
    LinkStatus,
    OutboxEntry,
    OutboxState,
    Party,
    PartyLink,
    RecordType,
    ReferenceRecord,
    SyncRun,
)

PREFIX = "/ledgerbridge"
ACTION = {"Content-Type": "application/json", "X-LedgerBridge-Action": "1"}


@pytest.fixture
def in_review(airflow):
    """acme's hub vendor "Nick Browne" in review, two candidates in acme's mirror; a twin at globex."""
    hub_id = f"V-{uuid.uuid4().hex[:6]}"
    with airflow.ledger.session() as session:
        for entity_id in ("acme", "globex"):
            for external_id, name, email in (("41", "Nick Brown", "nick@brown.example"), ("42", "Nick Browning", None)):
                if session.scalar(select(ReferenceRecord.id).where(ReferenceRecord.entity_id == entity_id,
                                                                   ReferenceRecord.external_id == external_id)):
                    continue
                session.add(ReferenceRecord(entity_id=entity_id, kind="vendor", external_id=external_id, name=name,
                                            email=email, city="Scranton"))
            party = Party(entity_id=entity_id, kind="vendor", hub_id=hub_id, name="Nick Browne",
                          email="nick@brown.example", city="Scranton")
            session.add(party)
            session.flush()
            session.add(PartyLink(party_id=party.id, entity_id=entity_id, status=LinkStatus.REVIEW, method="name",
                                  score=0.86, note="best candidate 41 'Nick Brown' scores 0.86: not sure enough",
                                  candidates=[{"external_id": "41", "name": "Nick Brown", "score": 0.86},
                                              {"external_id": "42", "name": "Nick Browning", "score": 0.81}]))
    return hub_id


@pytest.fixture
def refused(airflow):
    """A bill of acme and one of globex, each refused by the accounting system."""
    ids = {}
    with airflow.ledger.session() as session:
        for entity_id in ("acme", "globex"):
            hub_id = f"B-{uuid.uuid4().hex[:6]}"
            key = f"bill:{hub_id}"
            bill = Document(entity_id=entity_id, kind="bill", hub_id=hub_id, doc_date=date(2026, 11, 2), currency="USD",
                            total=Decimal("12.00"), status="approved")
            session.add(bill)
            session.flush()
            row = OutboxEntry(entity_id=entity_id, record_type=RecordType.DOCUMENT, record_id=bill.id,
                              record_key=key, kind="bill", company_id="9130", state=OutboxState.REJECTED,
                              idempotency_key=idempotency_key(entity_id, "document", key), payload={}, attempts=1,
                              error="QuickBooks error 6140: Duplicate Document Number Error")
            session.add(row)
            session.flush()
            ids[entity_id] = row.id
    return ids


def test_the_review_queue_shows_each_party_beside_its_candidates_and_why(airflow, in_review):
    reply = airflow.client.get(f"{PREFIX}/api/entities/acme/review", headers=airflow.bearer("viewer"))
    assert reply.status_code == 200
    item = next(i for i in reply.json()["items"] if i["hub_id"] == in_review)
    assert (item["name"], item["email"], item["score"]) == ("Nick Browne", "nick@brown.example", 0.86)
    best = item["candidates"][0]
    assert (best["external_id"], best["email"], best["city"], best["in_mirror"]) == ("41", "nick@brown.example",
                                                                                     "Scranton", True)
    assert "same email" in best["why"] and "same city" in best["why"]
    page = airflow.client.get(f"{PREFIX}/entities/acme/review", headers=airflow.bearer("editor")).text
    assert "Nick Browning" in page and "Create new" in page and "Reject" in page


def test_a_confirmation_links_the_party_as_the_airflow_user_and_is_final(airflow, in_review):
    headers = {**airflow.bearer("editor"), **ACTION}
    body = {"hub_id": in_review, "kind": "vendor", "external_id": "41"}
    reply = airflow.client.post(f"{PREFIX}/api/entities/acme/review/confirm", headers=headers, json=body)
    assert reply.status_code == 200 and "linked to 41 'Nick Brown'" in reply.json()["message"]
    again = airflow.client.post(f"{PREFIX}/api/entities/acme/review/reject", headers=headers, json=body | {
        "external_id": None})
    assert again.status_code == 409 and "decisions are final" in again.json()["detail"]
    with airflow.ledger.session() as session:
        links = {link.entity_id: link for link in session.scalars(
            select(PartyLink).join(Party).where(Party.hub_id == in_review))}
        assert (links["acme"].status, links["acme"].decided_by) == (LinkStatus.LINKED, "airflow:editor")
        assert links["globex"].status == LinkStatus.REVIEW  # the twin at another entity is untouched
        assert session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "party_link_confirmed",
                                                             AuditEvent.entity_id == "acme")) == "airflow:editor"


def test_create_new_and_reject_say_what_they_did(airflow, in_review):
    headers = {**airflow.bearer("editor"), **ACTION}
    created = airflow.client.post(f"{PREFIX}/api/entities/acme/review/create", headers=headers,
                                  json={"hub_id": in_review, "kind": "vendor"})
    assert created.status_code == 200 and "created on the next run" in created.json()["message"]
    rejected = airflow.client.post(f"{PREFIX}/api/entities/globex/review/reject", headers=headers,
                                   json={"hub_id": in_review, "kind": "vendor"})
    assert rejected.status_code == 200 and "not created" in rejected.json()["message"]


def test_refused_records_are_listed_with_the_error_and_retried_once(airflow, refused):
    viewer, editor = airflow.bearer("viewer"), {**airflow.bearer("editor"), **ACTION}
    listing = airflow.client.get(f"{PREFIX}/api/entities/acme/rejected", headers=viewer).json()
    mine = next(i for i in listing["items"] if i["outbox_id"] == refused["acme"])
    assert mine["retryable"] and "6140" in mine["error"]
    assert refused["globex"] not in {i["outbox_id"] for i in listing["items"]}

    reply = airflow.client.post(f"{PREFIX}/api/entities/acme/rejected/{refused['acme']}/retry", headers=editor, json={})
    assert reply.status_code == 200 and "new idempotency key" in reply.json()["message"]
    twice = airflow.client.post(f"{PREFIX}/api/entities/acme/rejected/{refused['acme']}/retry", headers=editor, json={})
    assert twice.status_code == 409 and "it is retry now" in twice.json()["detail"]
    page = airflow.client.get(f"{PREFIX}/entities/acme/rejected", headers=viewer).text
    assert "retry asked" in page


def test_another_entitys_record_is_never_reached_through_this_entitys_url(airflow, refused, in_review, held_pair):
    headers = {**airflow.bearer("editor"), **ACTION}
    retry = airflow.client.post(f"{PREFIX}/api/entities/acme/rejected/{refused['globex']}/retry", headers=headers,
                                json={})
    assert retry.status_code == 409 and "no outbox record" in retry.json()["detail"]
    release = airflow.client.post(f"{PREFIX}/api/entities/acme/quarantine/dismiss", headers=headers,
                                  json={"dataset": "bills", "record_key": held_pair["globex"], "reason": "mine?"})
    assert release.status_code == 409 and "no quarantine entry" in release.json()["detail"]
    with airflow.ledger.session() as session:
        assert session.get(OutboxEntry, refused["globex"]).state == OutboxState.REJECTED
    listing = airflow.client.get(f"{PREFIX}/api/entities/acme/quarantine", params={"status": "all"},
                                 headers=airflow.bearer("viewer")).json()
    assert {item["entity_id"] for item in listing["items"]} == {"acme"}


@pytest.fixture
def held_pair(airflow):
    from ledgerbridge.ledger import quarantine

    keys = {}
    with airflow.ledger.session() as session:
        for entity_id in ("acme", "globex"):
            key = f"B-{uuid.uuid4().hex[:6]}"
            quarantine.hold(session, entity_id, "bills", key, [quarantine.Reason("total", "differs from its lines",
                                                                                  Decimal("5.00"), "total_equals_lines")],
                            {"hub_id": key})
            keys[entity_id] = key
    return keys


def test_a_runs_reconciliation_is_a_table_on_the_run_page(airflow):
    run_id = f"scheduled__{uuid.uuid4().hex[:6]}"
    report = {"bills": {"approved": 3, "approved_total": Decimal("60.50"), "buckets": {"confirmed": 2, "quarantined": 1},
                       "amounts": {"confirmed": Decimal("40.50"), "quarantined": Decimal("20.00")}},
              "hub_total_of_confirmed_bills": Decimal("40.50"), "accounting_total_of_confirmed_bills": Decimal("38.50"),
              "compared": True, "mismatches": ["bill B-2: hub total 20.50 but accounting total 18.50"],
              "exported_this_run": 2, "open_quarantine": 1, "open_quarantine_by_dataset": {"bills": 1},
              "data_quality": [], "changes_not_confirmed": 0, "confirmed_in_earlier_companies": 0}
    with airflow.ledger.session() as session:
        session.add(SyncRun(entity_id="acme", run_id=run_id, step="reconcile", status="failed", summary=report,
                            error="ReconciliationError: acme: 1 mismatch(es)"))
    viewer = airflow.bearer("viewer")
    params = {"dag_id": "ledgerbridge__acme", "run_id": run_id}
    data = airflow.client.get(f"{PREFIX}/api/reconciliation", params=params, headers=viewer).json()
    assert (data["verdict"], data["difference"], data["status"]) == ("unbalanced", "2.00", "failed")
    assert data["kinds"][0]["buckets"] == [{"bucket": "confirmed", "count": 2, "amount": "40.50"},
                                           {"bucket": "quarantined", "count": 1, "amount": "20.00"}]
    page = airflow.client.get(f"{PREFIX}/reconciliation", params=params, headers=viewer).text
    assert "not balanced" in page and "2.00" in page and "bill B-2: hub total 20.50" in page
    other = airflow.client.get(f"{PREFIX}/api/reconciliation", params={**params, "dag_id": "ledgerbridge__globex"},
                               headers=viewer)
    assert other.status_code == 404  # globex's DAG has no such run: acme's report is not shown there
