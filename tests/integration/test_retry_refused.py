"""Records the accounting system refused: listed with its error, retried by a person after a fix,
through the outbox (its gate again, a new idempotency key), exactly once. Against the QBO sandbox."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from ledgerbridge.cli import main
from ledgerbridge.connectors.factory import quickbooks_online
from ledgerbridge.flows import outbox
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import AuditEvent, OutboxEntry, OutboxState
from ledgerbridge.pipeline import run_step
from support import bill, bills_in_company, connect_company, context, hub_data, make_entity, sync


def _refused_by_a_hand_typed_number(ledger, qbo_server, entity_id: str):
    """B-1 goes out as NB-1, a number someone typed by hand for the same vendor meanwhile: QBO 6140."""
    entity = make_entity(entity_id)
    conn = connect_company(qbo_server, ledger, entity)
    client = quickbooks_online(conn, ledger).client
    vendor = client.query("SELECT * FROM Vendor WHERE DisplayName = 'Nick Brown'")["Vendor"][0]["Id"]
    account = client.query("SELECT * FROM Account WHERE AcctNum = '6010'")["Account"][0]["Id"]
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "5.00", doc_number="NB-1")]))
    ctx = context(entity, ledger, conn)
    for step in ("pull_reference", "check_reference", "match_parties", "prepare_exports"):
        run_step(ctx, step)
    typed = client.create("Bill", {"VendorRef": {"value": vendor}, "DocNumber": "NB-1", "Line": [
        {"Amount": "5.00", "DetailType": "AccountBasedExpenseLineDetail",
         "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}}}]}, request_id="typed-by-hand")
    for step in ("export_documents", "export_payments", "collect_confirmations", "write_back", "reconcile"):
        run_step(ctx, step)
    return entity, conn, client, typed


def _row(ledger, entity_id: str) -> OutboxEntry:
    with ledger.session() as session:
        return session.scalars(select(OutboxEntry).where(OutboxEntry.entity_id == entity_id,
                                                         OutboxEntry.kind == "bill")).one()


def test_a_refused_bill_is_listed_with_the_error_and_goes_out_once_after_a_fix_and_a_retry(ledger, qbo_server):
    entity, conn, client, typed = _refused_by_a_hand_typed_number(ledger, qbo_server, "refused")
    with ledger.session() as session:
        page = outbox.rejected_page(session, "refused")
        assert page.total == 1
        listed = page.items[0].as_dict()
    assert listed["record_key"] == "bill:B-1" and listed["retryable"] and "6140" in listed["error"]
    refused = _row(ledger, "refused")

    # Nothing happens by itself: a refusal waits for a person.
    sync(entity, ledger, conn)
    assert _row(ledger, "refused").state == OutboxState.REJECTED

    # The fix, in the accounting system: the hand-typed bill is deleted. Then a person retries.
    client.delete("Bill", typed["Id"], typed["SyncToken"], request_id="fix-by-hand")
    with ledger.session() as session:
        said = outbox.retry(session, "refused", refused.id, "airflow:ada")
    assert "next run" in said
    with ledger.session() as session, pytest.raises(outbox.RetryRefused, match="is retry now"):
        outbox.retry(session, "refused", refused.id, "airflow:bob")  # a second click changes nothing

    sync(entity, ledger, conn)
    sync(entity, ledger, conn)

    row = _row(ledger, "refused")
    assert row.state == OutboxState.CONFIRMED and row.id == refused.id
    assert row.idempotency_key != refused.idempotency_key  # QBO answers a seen requestid with its refusal
    numbers = [b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)]
    assert numbers == ["NB-1"]
    with ledger.session() as session:
        assert outbox.rejected_page(session, "refused").total == 0
        actions = [(e.actor, e.action) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == "refused").order_by(AuditEvent.id))]
    asked = actions.index(("airflow:ada", "outbox_retry_requested"))
    assert actions[asked + 1:].count(("pipeline", "outbox_prepared_again")) == 1
    assert actions[asked + 1:].count(("pipeline", "outbox_confirmed")) == 1


def test_a_fix_at_the_source_is_taken_in_and_sent_on_retry(ledger, qbo_server):
    entity, conn, client, _ = _refused_by_a_hand_typed_number(ledger, qbo_server, "fixed_at_source")
    with ledger.session() as session:  # the hub renumbers the bill
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "5.00", doc_number="NB-1a")]))
    sync(entity, ledger, conn)
    assert _row(ledger, "fixed_at_source").state == OutboxState.REJECTED  # taken in, not sent by itself
    with ledger.session() as session:
        outbox.retry(session, "fixed_at_source", _row(ledger, "fixed_at_source").id, "airflow:ada")
    sync(entity, ledger, conn)

    assert sorted(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == ["NB-1", "NB-1a"]
    assert _row(ledger, "fixed_at_source").doc_number == "NB-1a"


def test_retry_is_refused_for_another_entitys_record_and_for_a_confirmed_one(ledger, qbo_server):
    _refused_by_a_hand_typed_number(ledger, qbo_server, "tenant_a")
    row = _row(ledger, "tenant_a")
    with ledger.session() as session, pytest.raises(outbox.RetryRefused, match="no outbox record"):
        outbox.retry(session, "tenant_b", row.id, "airflow:eve")
    with ledger.session() as session:
        assert outbox.rejected_page(session, "tenant_b").total == 0
    entity = make_entity("all_good")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-9", "V-1", "9.00")]))
    sync(entity, ledger, conn)
    good = _row(ledger, "all_good")
    with ledger.session() as session, pytest.raises(outbox.RetryRefused, match="is confirmed now"):
        outbox.retry(session, "all_good", good.id, "airflow:eve")


def test_the_cli_lists_and_retries_refused_records(ledger, ledger_url, qbo_server, monkeypatch, capsys):
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)
    _refused_by_a_hand_typed_number(ledger, qbo_server, "acme_us")
    row = _row(ledger, "acme_us")
    assert main(["rejected", "list", "--entity", "acme_us"]) == 0
    listed = capsys.readouterr().out
    assert "bill:B-1" in listed and "6140" in listed and f"ledgerbridge rejected retry acme_us {row.id}" in listed
    assert main(["rejected", "retry", "acme_us", str(row.id)]) == 0
    assert "new idempotency key" in capsys.readouterr().out
    assert main(["rejected", "retry", "acme_us", str(row.id)]) == 1
    assert "cannot be retried: it is retry now" in capsys.readouterr().err


def test_a_retry_of_a_record_no_longer_approved_is_refused_or_withdrawn(ledger, qbo_server):
    entity, conn, _, _ = _refused_by_a_hand_typed_number(ledger, qbo_server, "changed_mind")
    row = _row(ledger, "changed_mind")
    with ledger.session() as session:
        outbox.retry(session, "changed_mind", row.id, "airflow:ada")
    with ledger.session() as session:  # then the hub voids the bill: the retry asked for is withdrawn
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "5.00", doc_number="NB-1", status="void")]))
    sync(entity, ledger, conn)
    assert _row(ledger, "changed_mind").state == OutboxState.REJECTED
    with ledger.session() as session, pytest.raises(outbox.RetryRefused, match="void at the source now"):
        outbox.retry(session, "changed_mind", row.id, "airflow:ada")
    with ledger.session() as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.entity_id == "changed_mind"))]
    assert "outbox_retry_withdrawn" in actions
