"""Hub records crossing into the ledger: a bad one is refused naming the record and the field."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from ledgerbridge.hub_import import HubRecordError, import_hub_data
from ledgerbridge.ledger.models import Document
from support import bill, hub_data, make_entity


@pytest.mark.parametrize("bad_bill, message", [
    (bill("B-1", amount=12.5), "bill 'B-1': field 'lines.0.amount'"),  # a float: already imprecise
    (bill("B-1", amount="twelve"), "not a number"),
    (bill("B-1", amount="1e30"), "larger than the ledger can hold"),
    (bill("B-1", doc_date="2026-13-45"), "field 'doc_date'"),
    ({**bill("B-1"), "status": "paid-ish"}, "field 'status'"),
    ({**bill("B-1"), "colour": "red"}, "field 'colour'"),
    ({k: v for k, v in bill("B-1").items() if k != "vendor"}, "field 'vendor'"),
    (bill("B-1", vendor="V-404"), "unknown hub vendor 'V-404'"),
    ({**bill("B-1"), "currency": "usd"}, "field 'currency'"),
])
def test_bad_bills_are_refused_naming_record_and_field(ledger, bad_bill, message):
    with pytest.raises(HubRecordError, match=message.replace("(", r"\(").replace(")", r"\)")):
        with ledger.session() as session:
            import_hub_data(session, make_entity("acme"), hub_data([bad_bill]))


def test_a_payment_applied_to_an_unknown_bill_names_it(ledger):
    data = hub_data([bill("B-1")], payments=[{"hub_id": "P-1", "vendor": "V-1", "payment_date": "2026-11-20",
                                               "amount": "1.00", "bank_account": "1000", "applied": {"B-404": "1.00"}}])
    with pytest.raises(HubRecordError, match=r"bill payment 'P-1': field 'applied.B-404': unknown hub bill"):
        with ledger.session() as session:
            import_hub_data(session, make_entity("acme"), data)


def test_import_is_idempotent_and_keeps_amounts_exact(ledger):
    entity = make_entity("acme")
    data = hub_data([bill("B-1", amount="1234567.89"), bill("B-2", lines=[{"amount": "0.10", "account": "6010"},
                                                                           {"amount": "0.20", "account": "6010"}])])
    with ledger.session() as session:
        assert import_hub_data(session, entity, data)["bills"] == 2
    with ledger.session() as session:
        assert set(import_hub_data(session, entity, data).values()) == {0}
        totals = {d.hub_id: d.total for d in session.scalars(select(Document))}
    assert totals == {"B-1": Decimal("1234567.89"), "B-2": Decimal("0.30")}


def test_a_hub_id_repeated_in_one_feed_is_refused(ledger):
    with pytest.raises(HubRecordError, match=r"bill 'B-1': field 'hub_id': repeated \(records #1 and #2"):
        with ledger.session() as session:
            import_hub_data(session, make_entity("acme"), hub_data([bill("B-1", amount="1.00"),
                                                                    bill("B-1", amount="999.00")]))
