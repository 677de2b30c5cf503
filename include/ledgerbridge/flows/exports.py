"""prepare_exports, export_documents, export_payments: approved hub records into the outbox, then out.

Each document kind (ledgerbridge.kinds: bills, invoices, journal entries) is resolved against the
mirror (party link, accounts, classes, items) and checked by the `documents` suite in
prepare_exports, and sent in export_documents, followed by its attachments once the documents exist
in the accounting system. Each payment kind (bill payments, customer payments) is checked by the
`payments` suite and sent in export_payments, once the documents it pays are confirmed.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace

from sqlalchemy import func, select

from ledgerbridge import kinds
from ledgerbridge.connectors.base import CREATE, UPDATE_PREFIX, VOID
from ledgerbridge.context import RunContext
from ledgerbridge.flows import outbox
from ledgerbridge.flows.currencies import ExchangeRates
from ledgerbridge.flows.errors import SystemicQualityFailure
from ledgerbridge.flows.preparing import Gate, check_and_queue
from ledgerbridge.kinds.payment import DocumentStates, PaymentRecordKind
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.mirror import CodeIndex, Resolver, collective_accounts, usable_references
from ledgerbridge.ledger.quarantine import Reason
from ledgerbridge.ledger.models import (
    Attachment,
    Document,
    DocumentStatus,
    OutboxEntry,
    OutboxState,
    RecordType,
    ReferenceKind,
    ReferenceRecord,
)
from ledgerbridge.quality.documents import DocumentParams
from ledgerbridge.quality.payments import PaymentParams


def prepare_exports(ctx: RunContext) -> dict:
    """Approved documents through the `documents` suite into the outbox, one batch per kind."""
    enabled = _carried(ctx, kinds.documents())
    held = _hold_not_carried(ctx, kinds.documents())
    if not enabled:
        if held:
            return {"skipped": "no document flow the accounting connector carries", **held}
        ctx.log.info("no document flow (%s) is enabled for %s: skipped",
                     ", ".join(kind.flow.value for kind in kinds.documents()), ctx.entity.id)
        return {"skipped": "no document flow enabled"}
    summary: dict = dict(held)
    systemic: list[str] = []
    with ctx.ledger.session() as session:
        source = ctx.entity.source
        resolve = Resolver(session, ctx.entity.id, source.item_map if source else None,
                           source.amounts_include_tax if source else False)
        params = _document_params(ctx, session, kinds.BILL in enabled)
        rates = ExchangeRates(ctx)
        for kind in enabled:
            outbox.withdraw_stale_retries(session, ctx, kind)
            gate = Gate("prepare_exports", "documents", kind, params)
            counts, problem = check_and_queue(
                ctx, session, gate, session.scalars(kind.approved(ctx.entity.id)),
                lambda document, kind=kind: kind.check(document, resolve, *rates.settle(document, kind.name)),
                kind.snapshot)
            changes, change_problem = _queue_changes(ctx, session, kind, resolve, params, rates)
            if changes:
                counts["changes"] = dict(changes)
            if kind is kinds.BILL:
                summary.update(counts)  # bills' counts stay at the top level
            else:
                summary[kind.flow.value] = dict(counts)
            systemic.extend(filter(None, (problem, change_problem)))
        if resolve.unrated_tax_codes:
            ctx.log.info("tax amounts on lines with tax code(s) %s were not checked: the accounting system gives "
                         "no rate for them (it computes the tax itself)", ", ".join(sorted(resolve.unrated_tax_codes)))
    if systemic:  # the results and the other kinds' queueing are committed first
        raise SystemicQualityFailure(f"{ctx.entity.id}: " + " | ".join(systemic))
    return summary


def _queue_changes(ctx: RunContext, session, kind, resolve: Resolver, params: DocumentParams,
                   rates: ExchangeRates) -> tuple[Counter, str | None]:
    """Changes the source made to exported documents (intake followed them: Document.version), each queued
    as the document's next operation once the previous one is settled: a void, or an update to the
    current version through the same `documents` suite as a creation."""
    changed = session.scalars(select(Document).where(
        Document.entity_id == ctx.entity.id, Document.kind == kind.ledger_kind, Document.version > 0)
        .order_by(Document.id)).all()
    counts: Counter = Counter()
    if not changed:
        return counts, None
    operations: dict[int, dict[str, OutboxEntry]] = {}
    for start in range(0, len(changed), 500):
        for row in session.scalars(select(OutboxEntry).where(
                OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.record_type == kind.record_type,
                OutboxEntry.record_id.in_([d.id for d in changed[start:start + 500]]))):
            operations.setdefault(row.record_id, {})[row.operation] = row
    due: dict[int, tuple[str, str]] = {}  # document id -> (operation, the external id it changes)
    updates, voids = [], []
    held_at_source = quarantine.open_keys(session, ctx.entity.id, f"source.{kind.dataset}")
    for document in changed:
        rows = operations.get(document.id, {})
        created, void = rows.get(CREATE), rows.get(VOID)
        operation = VOID if document.status == DocumentStatus.VOID else f"{UPDATE_PREFIX}{document.version}"
        if operation in rows or (void is not None and void.state != OutboxState.REJECTED):
            continue  # queued (or done) already; nothing follows a void (one the accounting system refused is none)
        if document.hub_id in held_at_source:
            counts["held_at_source"] += 1  # the source's newer version is held: this one waits too
            continue
        if created is None or created.state != OutboxState.CONFIRMED or created.company_id != ctx.connector.company_id \
                or any(row.state in outbox.UNSETTLED for row in rows.values()):
            counts["waiting"] += 1  # the creation, or the previous change, is still on its way
            continue
        due[document.id] = (operation, created.external_id)
        (voids if operation == VOID else updates).append(document)
    if not due:
        return counts, None
    if kind.name not in ctx.connector.capabilities.updatable_kinds:
        for document in updates + voids:
            quarantine.hold(session, ctx.entity.id, kind.dataset, document.hub_id, [Reason(
                "status" if document in voids else "version",
                f"changed at the source after export, but the accounting connector ({ctx.connector.kind}) cannot "
                f"{'void' if document in voids else 'update'} a {kind.label} once exported: do it there by hand",
                None, "source.changed_after_export")], kind.snapshot(document))
        counts["held"] += len(due)
        ctx.log.warning("%d %s changed at the source after export are held: %s cannot change them", len(due),
                        kind.plural, ctx.connector.kind)
        return counts, None
    for document in voids:
        outbox.enqueue(session, ctx, kind, document.id, kind.record_key(document.hub_id), None, *due[document.id])
    counts["voids_queued"] = len(voids)
    problem = None
    if updates:
        gate = Gate("prepare_exports", "documents", kind, _without_own_numbers(params, due.values()),
                    operation_of=lambda document: due[document.id])
        checked, problem = check_and_queue(
            ctx, session, gate, updates, lambda document: kind.check(document, resolve,
                                                                     *rates.settle(document, kind.name)),
            kind.snapshot)
        counts.update({f"updates_{name}": n for name, n in checked.items() if n})
    ctx.log.info("%s changed at the source after export: %d void(s) and %d update(s) queued, %d waiting for the "
                 "previous operation", kind.plural, len(voids), counts["updates_queued"], counts["waiting"])
    return counts, problem


def _without_own_numbers(params: DocumentParams, changes) -> DocumentParams:
    """An updated bill keeps its number: the numbers taken must not count the very bills being updated."""
    if not isinstance(params.taken_numbers, Mapping):
        return params
    own = {_holder_in_accounting(target) for _, target in changes}
    return replace(params, taken_numbers={key: holder for key, holder in params.taken_numbers.items()
                                          if holder not in own})


def _holder_in_accounting(external_id: str) -> str:
    return f"bill {external_id} in the accounting system"


def _carried(ctx: RunContext, family: tuple, say: bool = True) -> list:
    """The kinds of a family the entity's flows enable and its accounting connector takes; an enabled
    kind the connector cannot carry is said (once per run: by the step preparing it), and its records
    wait in the ledger."""
    enabled = [kind for kind in family if ctx.entity.runs(kind.flow)]
    if not enabled:
        return []
    taken = ctx.connector.capabilities.kinds
    for kind in enabled if say else ():
        if kind.name not in taken and kind.name not in ctx.connector.capabilities.kinds_not_carried \
                and _waiting(ctx, kind):  # a kind not carried for a declared reason is held (_hold_not_carried)
            ctx.log.warning("%s: flow %s is enabled, but the accounting connector (%s) takes no %s: skipped, "
                            "the records stay in the ledger", kind.plural, kind.flow.value, ctx.connector.kind,
                            kind.plural)
    return [kind for kind in enabled if kind.name in taken]


NOT_CARRIED = "connector.kind_not_carried"  # the quarantine reason's expectation: no person can waive it


def _hold_not_carried(ctx: RunContext, family: tuple) -> dict:
    """Approved records of an enabled kind the connector declares it cannot carry, and why (a desktop agent on
    an older file-drop protocol): held in quarantine with that reason, so a person sees why they do not go and
    what to do. The first run whose connector carries the kind checks them like any record, and the gate
    resolves each that passes. Per kind's flow: how many are held, and the reason."""
    summary: dict = {}
    why = ctx.connector.capabilities.kinds_not_carried
    for kind in family:
        reason = why.get(kind.name)
        if reason is None or not ctx.entity.runs(kind.flow) or kind.name in ctx.connector.capabilities.kinds:
            continue
        with ctx.ledger.session() as session:
            dismissed = quarantine.dismissed_keys(session, ctx.entity.id, kind.dataset)
            held = 0
            for document in session.scalars(kind.approved(ctx.entity.id)):
                if document.hub_id in dismissed:
                    continue  # a person decided it is never exported
                quarantine.hold(session, ctx.entity.id, kind.dataset, document.hub_id, [Reason(
                    "kind", f"the accounting connector ({ctx.connector.kind}) cannot take "
                    f"{'an' if kind.label[0] in 'aeiou' else 'a'} {kind.label}: {reason}",
                    kind.name, NOT_CARRIED)], kind.snapshot(document))
                held += 1
        if held:
            ctx.log.warning("%d %s held, not sent: %s", held, kind.plural, reason)
            summary[kind.flow.value] = {"held": held, "reason": reason}
    return summary


def _waiting(ctx: RunContext, kind) -> bool:
    """Whether approved records of `kind` wait in the ledger (a kind with none is not worth a warning)."""
    with ctx.ledger.session() as session:
        return session.scalar(kind.approved(ctx.entity.id).with_only_columns(kind.model.id).limit(1)) is not None


def _document_params(ctx: RunContext, session, bills: bool) -> DocumentParams:
    taken = _bill_numbers_taken(ctx, session) if bills else None
    policy = ctx.entity.quality
    capabilities = ctx.connector.capabilities
    return DocumentParams(
        currency=ctx.entity.base_currency, allowed_currencies=frozenset(policy.allowed_currencies),
        doc_number_limit=capabilities.doc_number_limit, doc_number_required=capabilities.doc_number_required,
        unique_bill_numbers=taken is not None, taken_numbers=taken or frozenset(),
        max_failure_rate=policy.max_failure_rate("documents"),
        enabled_currencies=_enabled_currencies(ctx, session, capabilities),
        single_currency=ctx.connector.single_currency() is not None)


def _enabled_currencies(ctx: RunContext, session, capabilities) -> frozenset[str] | None:
    """The currencies the accounting company takes: its home currency alone when it takes no other, those it
    lists when its connector mirrors them; else None (any)."""
    home = ctx.connector.single_currency()
    if home is not None:
        return frozenset({home})
    if ReferenceKind.CURRENCY not in capabilities.reference_kinds:
        return None
    currencies = usable_references(session, ctx.entity.id, ReferenceKind.CURRENCY)
    return frozenset(record.external_id for record in currencies)


def export_documents(ctx: RunContext) -> dict:
    names = tuple(kind.name for kind in _carried(ctx, kinds.documents(), say=False))
    if not names:
        return {"skipped": "no document flow enabled"}
    files = _Attachments(ctx, names)
    # The files of each confirmed batch go before the next batch: uploads use the request budget a
    # batch-limited export leaves idle (QuickBooks: 40 batch requests a minute, 500 requests).
    report = outbox.send(ctx, names, after_batch=files.send if ctx.connector.capabilities.attachments else None)
    ctx.log.info("documents (%s): %d sent, %d confirmed (%d adopted after an unknown outcome), %d rejected, "
                 "%d uncertain", "/".join(names), report.sent, report.confirmed, report.adopted, report.rejected,
                 report.uncertain)
    summary = report.as_dict()
    summary["attachments"] = files.finish()
    return summary


def _bill_numbers_taken(ctx: RunContext, session) -> dict[tuple[str, str], str] | None:
    """(vendor id, bill number) -> which bill holds it, when the company refuses a vendor's bill number
    twice; None when it allows duplicates. From the mirrored bills and the bills on their way."""
    if not ctx.connector.warns_on_duplicate_bill_numbers():
        return None
    taken = {(vendor, number): _holder_in_accounting(external_id)
             for vendor, number, external_id in session.execute(
                 select(ReferenceRecord.party_external_id, ReferenceRecord.number, ReferenceRecord.external_id)
                 .where(ReferenceRecord.entity_id == ctx.entity.id, ReferenceRecord.kind == kinds.BILL.mirror_kind,
                        ReferenceRecord.deleted_at.is_(None), ReferenceRecord.number.is_not(None)))}
    for key, vendor, number in session.execute(
            select(OutboxEntry.record_key, OutboxEntry.party_ref, OutboxEntry.doc_number).where(
                OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.kind == kinds.BILL.name,
                OutboxEntry.operation == CREATE, OutboxEntry.state.in_(outbox.UNSETTLED),
                OutboxEntry.doc_number.is_not(None))):
        taken.setdefault((vendor, number), f"{key}, on its way")
    return taken


# -- attachments -------------------------------------------------------------------------------

class _Attachments:
    """The files of documents confirmed in the accounting system: queued and sent as their documents are
    confirmed (`send`, between batches), and once more when the documents are all sent (`finish`)."""

    def __init__(self, ctx: RunContext, document_kinds: tuple[str, ...]) -> None:
        self.ctx, self.document_kinds = ctx, document_kinds
        # A kind whose files the connector says it cannot attach yet (a desktop agent before file-drop protocol
        # version 7) keeps them in the ledger unqueued: a rejected outbox row would never go again, these go on
        # the first run whose connector attaches to the kind.
        self.not_carried = {kind: why for kind, why in ctx.connector.capabilities.attachments_not_carried.items()
                            if kind in document_kinds}
        self.attachable_kinds = tuple(kind for kind in document_kinds if kind not in self.not_carried)
        self.queued = 0
        self.report = outbox.SendReport()

    def send(self) -> None:
        self.queued += _queue_attachments(self.ctx, self.attachable_kinds)
        self.report.add(outbox.send(self.ctx, (kinds.ATTACHMENT.name,)))

    def finish(self) -> dict:
        ctx = self.ctx
        if not ctx.connector.capabilities.attachments:
            with ctx.ledger.session() as session:
                waiting = session.scalar(select(func.count(Attachment.id)).where(Attachment.entity_id == ctx.entity.id))
            if waiting:
                ctx.log.info("attachments: %d file(s) kept in the ledger, not sent: the accounting connector takes "
                             "no attachments", waiting)
            return {"skipped": "the accounting connector takes no attachments", "kept": waiting}
        self.send()
        report = self.report
        if self.queued or report.sent:
            ctx.log.info("attachments: %d queued, %d sent, %d confirmed, %d rejected, %d uncertain", self.queued,
                         report.sent, report.confirmed, report.rejected, report.uncertain)
        summary = {"queued": self.queued, **report.as_dict()}
        held = self._held()
        if held:
            summary["held"] = held
        return summary

    def _held(self) -> dict:
        """Per document kind whose files are kept unqueued: how many wait, and why."""
        if not self.not_carried:
            return {}
        held = {}
        with self.ctx.ledger.session() as session:
            for kind, count in session.execute(
                    select(OutboxEntry.kind, func.count(Attachment.id))
                    .join(Document, Attachment.document_id == Document.id)
                    .join(OutboxEntry, (OutboxEntry.record_id == Document.id)
                          & (OutboxEntry.record_type == RecordType.DOCUMENT)
                          & (OutboxEntry.entity_id == Document.entity_id) & (OutboxEntry.operation == CREATE))
                    .where(Attachment.entity_id == self.ctx.entity.id, OutboxEntry.state == OutboxState.CONFIRMED,
                           OutboxEntry.kind.in_(tuple(self.not_carried)),
                           Attachment.id.not_in(select(OutboxEntry.record_id).where(  # not queued before
                               OutboxEntry.entity_id == self.ctx.entity.id,
                               OutboxEntry.record_type == kinds.ATTACHMENT.record_type)))
                    .group_by(OutboxEntry.kind)):
                self.ctx.log.warning("attachments: %d file(s) of %s kept in the ledger, not sent: %s", count,
                                     kind, self.not_carried[kind])
                held[kind] = {"kept": count, "reason": self.not_carried[kind]}
        return held


def _queue_attachments(ctx: RunContext, document_kinds: tuple[str, ...]) -> int:
    """Queue the files of documents now confirmed in the accounting system; how many."""
    attachment = kinds.ATTACHMENT
    with ctx.ledger.session() as session:
        rows = session.execute(
            select(Attachment, Document.hub_id, OutboxEntry.kind, OutboxEntry.external_id)
            .join(Document, Attachment.document_id == Document.id)
            .join(OutboxEntry, (OutboxEntry.record_id == Document.id)
                  & (OutboxEntry.record_type == RecordType.DOCUMENT) & (OutboxEntry.entity_id == Document.entity_id)
                  & (OutboxEntry.operation == CREATE))
            .where(Attachment.entity_id == ctx.entity.id, OutboxEntry.state == OutboxState.CONFIRMED,
                   OutboxEntry.kind.in_(document_kinds),
                   Attachment.id.not_in(select(OutboxEntry.record_id).where(
                       OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.record_type == attachment.record_type,
                       OutboxEntry.state != OutboxState.RETRY)))
            .order_by(Attachment.id)
        ).all()
        for file, hub_id, document_kind, external_id in rows:
            export = attachment.export(file, document_kind, hub_id, external_id)
            outbox.enqueue(session, ctx, attachment, file.id, attachment.record_key(export.hub_id), export)
    return len(rows)


# -- payments ----------------------------------------------------------------------------------

def export_payments(ctx: RunContext) -> dict:
    """Approved payments through the `payments` suite into the outbox, then out."""
    enabled = _carried(ctx, kinds.payments())
    if not enabled:
        ctx.log.info("no payment flow (%s) is enabled for %s: skipped",
                     ", ".join(kind.flow.value for kind in kinds.payments()), ctx.entity.id)
        return {"skipped": "no payment flow enabled"}
    prepared, systemic = {}, []
    rates = ExchangeRates(ctx)  # one for both kinds: the system's rate is asked once per currency and day
    for kind in enabled:
        counts, problem = _prepare_payments(ctx, kind, rates)
        prepared[kind.flow.value] = dict(counts)
        if problem:
            systemic.append(problem)
    names = tuple(kind.name for kind in enabled)
    report = outbox.send(ctx, names)  # what earlier runs queued goes out even when this batch is systemic
    ctx.log.info("payments (%s): %d sent, %d confirmed, %d rejected, %d uncertain", "/".join(names),
                 report.sent, report.confirmed, report.rejected, report.uncertain)
    if systemic:
        raise SystemicQualityFailure(f"{ctx.entity.id}: " + " | ".join(systemic))
    # A bill-payments-only entity keeps the flat shape: {"prepared": counts, ...}.
    return {"prepared": prepared[enabled[0].flow.value] if len(enabled) == 1 else prepared, **report.as_dict()}


def _prepare_payments(ctx: RunContext, kind: PaymentRecordKind, rates: ExchangeRates) -> tuple[Counter, str | None]:
    policy = ctx.entity.quality
    params = PaymentParams(currency=ctx.entity.base_currency, allowed_currencies=frozenset(policy.allowed_currencies),
                           max_failure_rate=policy.max_failure_rate("payments"))
    account_types = ctx.connector.capabilities.payment_account_types[kind.name]
    gate = Gate("export_payments", "payments", kind, params)
    with ctx.ledger.session() as session:
        outbox.withdraw_stale_retries(session, ctx, kind)
        accounts = CodeIndex([a for a in usable_references(session, ctx.entity.id, "account")
                              if a.account_type in account_types])
        documents = DocumentStates(session, ctx.entity.id, kind)
        collective = collective_accounts(session, ctx.entity.id, kind.party_role)
        return check_and_queue(ctx, session, gate, session.scalars(kind.approved(ctx.entity.id)),
                               lambda payment: kind.check(payment, accounts, documents, collective,
                                                          *rates.settle(payment, kind.name)), kind.snapshot)
