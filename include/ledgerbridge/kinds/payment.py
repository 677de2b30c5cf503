"""Payments (bill payments, customer payments): checked by the `payments` suite in export_payments,
in date order, once the documents they pay are confirmed in the accounting system."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ledgerbridge.connectors.base import CREATE, AppliedTo
from ledgerbridge.kinds.base import RecordKind, Waiting, party_fields
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.mirror import CodeIndex
from ledgerbridge.ledger.models import (
    Document,
    DocumentStatus,
    LinkStatus,
    OutboxEntry,
    OutboxState,
    Party,
    Payment,
    PaymentApplication,
    RecordType,
)
from ledgerbridge.quality.payments import CONFIRMED, ON_ITS_WAY

# (payment, the party's external id, the account's external id or None, applications, the party's own
# payables/receivables account or None) -> the neutral export
ExportBuilder = Callable[[Payment, str, str | None, tuple[AppliedTo, ...], str | None], Any]


@dataclass(frozen=True)
class PaymentRecordKind(RecordKind):
    ledger_kind: str = ""  # Payment.kind
    pays: RecordKind | None = None  # the kind of document it is applied to
    account_required: bool = True  # where the money comes from / goes to must be named
    build: ExportBuilder | None = None

    def approved(self, entity_id: str):
        """Approved payments of this kind without an outbox row yet (or to be retried), in date order: the suite holds back
        the payment that would over-pay a document, not an earlier one."""
        queued = select(OutboxEntry.record_id).where(OutboxEntry.entity_id == entity_id,
                                                     OutboxEntry.record_type == self.record_type,
                                                     OutboxEntry.state != OutboxState.RETRY)
        return (select(Payment).where(Payment.entity_id == entity_id, Payment.id.not_in(queued),
                                      Payment.kind == self.ledger_kind, Payment.status == DocumentStatus.APPROVED)
                .order_by(Payment.payment_date, Payment.id)
                .options(selectinload(Payment.applications).selectinload(PaymentApplication.document)
                         .selectinload(Document.party).selectinload(Party.link),
                         selectinload(Payment.party).selectinload(Party.link)))

    def check(self, payment: Payment, accounts: CodeIndex, documents: DocumentStates,
              collective_accounts: Mapping[str, str], exchange_rate: Decimal | None = None,
              rate_problem: str | None = None) -> tuple[dict, Callable[[], Any]]:
        """The suite's record of a payment, and its export (which waits while a document is on its way);
        `collective_accounts`: party id -> its own payables/receivables account (mirror.collective_accounts);
        the exchange rate it goes with (flows/currencies.py; `rate_problem`: why a foreign payment has none)."""
        party = party_fields(payment.party, self.party_role, f"{self.label} {payment.hub_id}")
        account = accounts.get(payment.bank_account_code)
        states = {a.document_id: documents.state(a.document) for a in payment.applications}
        record = {
            "hub_id": payment.hub_id, "kind": self.ledger_kind, "payment_date": payment.payment_date,
            "currency": payment.currency, "amount": payment.amount, **party,
            "bank_account_code": payment.bank_account_code,
            "bank_account_resolved": (account is not None if self.account_required or payment.bank_account_code
                                      else None),
            "exchange_rate": exchange_rate, "rate_problem": rate_problem,
            "applications": [{
                "document": a.document.hub_id, "document_kind": self.pays.name, "amount": a.amount,
                "open_balance": documents.open_balance(a.document), "document_date": a.document.doc_date,
                "document_state": states[a.document_id], "same_party": a.document.party_id == payment.party_id,
            } for a in payment.applications],
        }

        def build():
            waiting_for = [a.document.hub_id for a in payment.applications if states[a.document_id] == ON_ITS_WAY]
            if waiting_for:
                raise Waiting(f"{self.pays.label}(s) {', '.join(waiting_for)} not confirmed in the accounting "
                              "system yet")
            applied = tuple(AppliedTo(documents.external_id(a.document), a.amount) for a in payment.applications)
            export = self.build(payment, party["party_ref"], account.external_id if account else None, applied,
                                collective_accounts.get(party["party_ref"]))
            return replace(export, exchange_rate=exchange_rate) if exchange_rate is not None else export

        return record, build

    @staticmethod
    def snapshot(payment: Payment) -> dict:
        return {"hub_id": payment.hub_id, "amount": payment.amount,
                "applied": {a.document.hub_id: a.amount for a in payment.applications}}

    def outbox_columns(self, export: Any) -> tuple[str | None, str | None]:
        return None, export.party_ref


class DocumentStates:
    """Where each document a payment may pay stands: confirmed (with its id), on its way, or why never."""

    def __init__(self, session, entity_id: str, kind: PaymentRecordKind):
        self.outbox = {record_id: (state, external_id) for record_id, state, external_id in session.execute(
            select(OutboxEntry.record_id, OutboxEntry.state, OutboxEntry.external_id).where(
                OutboxEntry.entity_id == entity_id, OutboxEntry.record_type == RecordType.DOCUMENT,
                OutboxEntry.operation == CREATE))}
        self.quarantined = quarantine.open_keys(session, entity_id, kind.pays.dataset)
        self.dismissed = quarantine.dismissed_keys(session, entity_id, kind.pays.dataset)
        self.applied_total, self.unconfirmed = _applied_per_document(session, entity_id)

    def state(self, document: Document) -> str:
        state, _ = self.outbox.get(document.id, (None, None))
        if state == OutboxState.CONFIRMED:
            return CONFIRMED
        if document.status != DocumentStatus.APPROVED:
            return f"{document.status}, not approved"
        if state == OutboxState.REJECTED:
            return "rejected by the accounting system"
        if document.hub_id in self.dismissed:
            return "dismissed by a person (never exported)"
        link = document.party.link if document.party else None
        if document.hub_id in self.quarantined and not (link and link.status == LinkStatus.PENDING_CREATE):
            return "quarantined"
        return ON_ITS_WAY  # queued, being sent, or waiting for its party to be created

    def external_id(self, document: Document) -> str:
        return self.outbox[document.id][1]

    def open_balance(self, document: Document) -> Decimal:
        """What a new payment may still apply: the hub's view (total less our payments on their way),
        and the accounting system's last-read balance less our payments it has not seen yet (someone
        may have paid there directly): the lower of the two."""
        open_balance = document.total - self.applied_total.get(document.id, Decimal(0))
        if document.open_balance is not None:
            open_balance = min(open_balance, document.open_balance - self.unconfirmed.get(document.id, Decimal(0)))
        return open_balance


def _applied_per_document(session, entity_id: str) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """What our payments on their way (queued, sent or confirmed) apply to each document, and the
    part of it not confirmed yet."""
    totals: dict[int, Decimal] = {}
    unconfirmed: dict[int, Decimal] = {}
    rows = session.execute(
        select(PaymentApplication.document_id, PaymentApplication.amount, OutboxEntry.state)
        .join(Payment)
        .join(OutboxEntry, (OutboxEntry.record_id == Payment.id) & (OutboxEntry.record_type == RecordType.PAYMENT)
              & (OutboxEntry.entity_id == Payment.entity_id) & (OutboxEntry.operation == CREATE))
        .where(Payment.entity_id == entity_id, OutboxEntry.state != OutboxState.REJECTED)
    ).all()
    for document_id, amount, state in rows:
        totals[document_id] = totals.get(document_id, Decimal(0)) + amount
        if state != OutboxState.CONFIRMED:
            unconfirmed[document_id] = unconfirmed.get(document_id, Decimal(0)) + amount
    return totals, unconfirmed
