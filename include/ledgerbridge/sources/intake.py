"""Intake: a source's records into the ledger, one by one, upserted by hub id.

- new -> inserted; changed and not in the outbox yet -> updated in place (lines replaced): a draft
  that becomes approved is then exported by prepare_exports, and a record the export gate held is
  checked again there once fixed;
- changed (or voided) once it has an outbox row (exported, or on its way) -> the ledger keeps the
  exported version and the record is held in quarantine, "changed after export", naming the fields;
- unchanged -> counted, nothing written;
- bad (invalid, an unknown party or document, a value no ledger column takes) -> held in quarantine
  (dataset `source.<kind>`) naming the record and the field; the other records go on. A record
  fixed later leaves quarantine (resolved).

With `strict=True` (import_hub_data) the first bad record raises HubRecordError instead.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from ledgerbridge import observability
from ledgerbridge.connectors.base import CREATE, VOID
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.audit import record as audit
from ledgerbridge.context import ensure_entity
from ledgerbridge.ledger.quarantine import Reason
from ledgerbridge.ledger.models import (
    Attachment,
    Document,
    DocumentLine,
    DocumentStatus,
    OutboxEntry,
    OutboxState,
    Party,
    Payment,
    PaymentApplication,
    RecordType,
    SourceJournal,
)
from ledgerbridge.money import money_sum
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sources.base import Origin, SourceRecord
from ledgerbridge.sources.records import (
    DOCUMENT_KINDS,
    HUB_ID,
    JOURNALS,
    JOURNALS_DATASET,
    KINDS_BY_KEY,
    KINDS_BY_LEDGER_KIND,
    PARTY_KINDS,
    SAME_SALE,
    PAYMENT_KINDS,
    RECORD_KINDS,
    FeedKind,
    HubBankLine,
    HubExpenseLine,
    HubJournal,
    HubJournalLine,
    HubSalesLine,
    fits_the_ledger,
)

# The `expectation` of intake's quarantine reasons: not releasable by a person, only fixable at the source.
REFUSED_AT_INTAKE = "source.record_refused"
CHANGED_AFTER_EXPORT = "source.changed_after_export"
_CHUNK = 500  # hub ids per IN query
_APPLY_CHUNK = 200  # records per savepoint and flush


class HubRecordError(ValueError):
    """A record refused by a strict intake, naming the record and the field."""


class Outcome(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    QUARANTINED = "quarantined"
    CHANGED_AFTER_EXPORT = "changed_after_export"  # held: the accounting system keeps the exported version
    FOLLOWED = "followed"  # changed after export: the accounting system follows (an update, or a void)


@dataclass(frozen=True)
class _JournalsKind:
    """What intake's reports need of a kind, for the journals a source declares (no record kind of the ledger)."""

    key: str = JOURNALS
    label: str = "journal"
    ledger_kind: str = "journal"
    quarantine_dataset: str = JOURNALS_DATASET


JOURNALS_KIND = _JournalsKind()


@dataclass(frozen=True)
class Refusal:
    """A record intake would not take, with every reason."""

    kind: FeedKind | _JournalsKind
    hub_id: str | None  # a journal's: its code
    origin: Origin
    reasons: tuple[Reason, ...]

    @property
    def who(self) -> str:
        return f"{self.kind.label} {self.hub_id!r}" if self.hub_id else f"{self.kind.label} #{self.origin.position}"

    @property
    def record_key(self) -> str:
        """The quarantine key: the hub id, or the file and position of a record without a usable one."""
        return self.hub_id or str(self.origin)[-200:]

    def message(self) -> str:
        return f"{self.who}: " + "; ".join(f"field '{reason.field}': {reason.problem}" for reason in self.reasons)


@dataclass(frozen=True)
class HeldAfterExport:
    kind: FeedKind
    hub_id: str
    origin: Origin
    fields: tuple[str, ...]


@dataclass
class IntakeReport:
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # kind key -> outcome
    refused: list[Refusal] = field(default_factory=list)
    held_after_export: list[HeldAfterExport] = field(default_factory=list)
    released: int = 0  # records held at intake earlier and taken in now

    def count(self, outcome: Outcome) -> int:
        return sum(counter[outcome] for counter in self.counts.values())

    @property
    def journals(self) -> Counter:
        """The journals the source declared in the batch: new, updated, unchanged, quarantined."""
        return self.counts[JOURNALS]

    def new_per_kind(self) -> dict[str, int]:
        return {kind.key: self.counts[kind.key][Outcome.NEW] for kind in RECORD_KINDS}

    def as_summary(self) -> dict[str, Any]:
        per_kind = {key: {outcome.value: counter[outcome] for outcome in Outcome if counter[outcome]}
                    for key, counter in self.counts.items() if sum(counter.values())}
        return {**{outcome.value: self.count(outcome) for outcome in Outcome}, "released": self.released,
                "kinds": per_kind}


def take_in(session: Session, entity: LegalEntity, records: Iterable[SourceRecord], *,
            strict: bool = False) -> IntakeReport:
    """Upsert `records` (in order: a later record of the same hub id wins) into the entity's ledger."""
    ensure_entity(session, entity)
    by_kind: dict[str, list[SourceRecord]] = defaultdict(list)
    intake = _Intake(session, entity, strict)
    for sequence, record in enumerate(records):
        if record.kind not in KINDS_BY_KEY and record.kind != JOURNALS:
            raise ValueError(f"unknown record kind {record.kind!r}; known: {JOURNALS}, {', '.join(KINDS_BY_KEY)}")
        by_kind[record.kind].append(record)
        intake.sequence[id(record)] = sequence
    intake.take_journals(by_kind.get(JOURNALS, []))  # before the documents naming them
    parsed = {kind.key: intake.parse(kind, by_kind.get(kind.key, [])) for kind in RECORD_KINDS}
    intake.load_ledger(parsed)
    for kind in PARTY_KINDS:
        intake.apply(kind, parsed[kind.key], intake.upsert_party)
    for kind in DOCUMENT_KINDS:
        intake.apply(kind, parsed[kind.key], intake.upsert_document)
    for kind in PAYMENT_KINDS:
        intake.apply(kind, parsed[kind.key], intake.upsert_payment)
    intake.settle_quarantine()
    session.flush()
    return intake.report


class _Refused(Exception):
    def __init__(self, *reasons: Reason) -> None:
        super().__init__("; ".join(map(str, reasons)))
        self.reasons = reasons


Parsed = tuple[SourceRecord, BaseModel]


class _Intake:
    def __init__(self, session: Session, entity: LegalEntity, strict: bool) -> None:
        self.session, self.entity, self.strict = session, entity, strict
        self.report = IntakeReport()
        self.parties: dict[str, dict[str, Party]] = {kind.ledger_kind: {} for kind in PARTY_KINDS}
        self.documents: dict[str, dict[str, Document]] = {kind.ledger_kind: {} for kind in DOCUMENT_KINDS}
        self.payments: dict[str, dict[str, Payment]] = {kind.ledger_kind: {} for kind in PAYMENT_KINDS}
        self.attachments: dict[Document, list[Attachment]] = defaultdict(list)
        self.in_outbox: dict[RecordType, set[int]] = defaultdict(set)
        self.refused_ids: dict[str, set[str]] = defaultdict(set)  # kind key -> hub ids refused in this batch
        # dataset -> hub id -> (place in the batch, taken in?): the latest record of a hub id has the last word,
        # whichever phase (validation, then applying) decided about it.
        self.taken: dict[str, dict[str, tuple[int, bool]]] = defaultdict(dict)
        self.sequence: dict[int, int] = {}  # id(record) -> its place in the batch

    # -- validation ------------------------------------------------------------------------------

    def parse(self, kind: FeedKind, records: list[SourceRecord]) -> list[Parsed]:
        parsed: list[Parsed] = []
        for record in records:
            if record.problems:  # the source could not translate it: held as the source gave it
                self.refuse(kind, record, _usable_hub_id(record.data),
                            [Reason(field, problem, _shown(value)) for field, problem, value in record.problems])
                continue
            try:
                parsed.append((record, kind.model.model_validate(record.data)))
            except ValidationError as exc:
                self.refuse(kind, record, _usable_hub_id(record.data), [
                    Reason(".".join(str(part) for part in error["loc"]) or kind.label, error["msg"],
                           _shown(error.get("input"))) for error in exc.errors()])
        return self._without_repeats(kind, parsed)

    def _without_repeats(self, kind: FeedKind, parsed: list[Parsed]) -> list[Parsed]:
        """A hub id given twice in one file is ambiguous: neither is taken. (A later file may
        correct an earlier one: that is an update.)"""
        places: dict[tuple[str, str], list[int]] = defaultdict(list)
        for record, model in parsed:
            places[(record.origin.source, model.hub_id)].append(record.origin.position)
        repeated = {place: positions for place, positions in places.items() if len(positions) > 1}
        if not repeated:
            return parsed
        kept = []
        for record, model in parsed:
            positions = repeated.get((record.origin.source, model.hub_id))
            if positions is None:
                kept.append((record, model))
            elif record.origin.position == positions[0]:
                numbers = ", ".join(f"#{p}" for p in positions[:-1]) + f" and #{positions[-1]}"
                self.refuse(kind, record, model.hub_id, [Reason(
                    "hub_id", f"repeated (records {numbers} of {record.origin.source})", model.hub_id)])
        return kept

    def refuse(self, kind: FeedKind, record: SourceRecord, hub_id: str | None, reasons: list[Reason]) -> None:
        refusal = Refusal(kind, hub_id, record.origin, tuple(reasons))
        if self.strict:
            raise HubRecordError(refusal.message())
        quarantine.hold(self.session, self.entity.id, kind.quarantine_dataset, refusal.record_key,
                        [Reason(r.field, r.problem, r.value, REFUSED_AT_INTAKE) for r in reasons],
                        {"hub_id": hub_id, "origin": str(record.origin), "record": _storable(record.data)})
        self.report.refused.append(refusal)
        self.report.counts[kind.key][Outcome.QUARANTINED] += 1
        if hub_id:
            self.refused_ids[kind.key].add(hub_id)
            self._decided(kind, record, hub_id, taken=False)

    # -- the journals a source declares ---------------------------------------------------------

    def take_journals(self, records: list[SourceRecord]) -> None:
        """Upsert the declared journals by code (a later record of a code wins; one absent from the batch stays
        as it was; `active: false` retires it); a bad one is held in `source.journals`, naming its code and the
        field, and the others go in."""
        if not records:
            return
        kind = JOURNALS_KIND
        declared = {journal.code: journal for journal in self.session.scalars(
            select(SourceJournal).where(SourceJournal.entity_id == self.entity.id))}
        latest: dict[str, tuple[SourceRecord, HubJournal]] = {}
        places: dict[tuple[str, str], list[int]] = defaultdict(list)
        for record in records:
            code = _usable_code(record.data)
            try:
                model = HubJournal.model_validate(record.data)
            except ValidationError as exc:
                self._refuse_journal(record, code, [
                    Reason(".".join(str(part) for part in error["loc"]) or kind.label, error["msg"],
                           _shown(error.get("input"))) for error in exc.errors()])
                if code:
                    latest.pop(code, None)  # the later record has the last word: the earlier one is not taken
                continue
            places[(record.origin.source, model.code)].append(record.origin.position)
            latest[model.code] = (record, model)
        taken = []
        for code, (record, model) in latest.items():
            positions = places[(record.origin.source, code)]
            if len(positions) > 1:  # twice in one file: ambiguous, neither is taken
                numbers = ", ".join(f"#{p}" for p in positions[:-1]) + f" and #{positions[-1]}"
                self._refuse_journal(record, code, [Reason(
                    "code", f"repeated (records {numbers} of {record.origin.source})", code)])
                continue
            values = {"name": model.name, "journal_type": model.type, "active": model.active}
            journal = declared.get(code)
            if journal is None:
                self.session.add(SourceJournal(entity_id=self.entity.id, code=code, **values))
                outcome = Outcome.NEW
            elif changed := _changed({name: getattr(journal, name) for name in values}, values):
                for name in changed:
                    setattr(journal, name, values[name])
                audit(self.session, self.entity.id, "source", "journal_updated_from_source", kind.ledger_kind, code,
                      {"fields": changed})
                outcome = Outcome.UPDATED
            else:
                outcome = Outcome.UNCHANGED
            self.report.counts[kind.key][outcome] += 1
            taken.append(code)
        self.session.flush()
        self.report.released += quarantine.resolve(self.session, self.entity.id, kind.quarantine_dataset, taken)

    def _refuse_journal(self, record: SourceRecord, code: str | None, reasons: list[Reason]) -> None:
        refusal = Refusal(JOURNALS_KIND, code, record.origin, tuple(reasons))
        if self.strict:
            raise HubRecordError(refusal.message())
        quarantine.hold(self.session, self.entity.id, JOURNALS_KIND.quarantine_dataset, refusal.record_key,
                        [Reason(r.field, r.problem, r.value, REFUSED_AT_INTAKE) for r in reasons],
                        {"hub_id": code, "origin": str(record.origin), "record": _storable(record.data)})
        self.report.refused.append(refusal)
        self.report.counts[JOURNALS_KIND.key][Outcome.QUARANTINED] += 1

    # -- what the ledger has ---------------------------------------------------------------------

    def load_ledger(self, parsed: dict[str, list[Parsed]]) -> None:
        """The ledger's records this batch names (its own and those it refers to), and which are in the outbox."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for kind in RECORD_KINDS:
            for _, model in parsed[kind.key]:
                wanted[kind.ledger_kind].add(model.hub_id)
                if kind.ledger_kind in SAME_SALE:
                    wanted[SAME_SALE[kind.ledger_kind]].add(model.hub_id)
                for role in kind.party_fields:
                    if getattr(model, role, None):
                        wanted[role].add(getattr(model, role))
                if kind.pays:
                    wanted[kind.pays].update(model.applied)
        entity_id = self.entity.id
        for kind, found in self.parties.items():
            for chunk in _chunks(wanted[kind]):
                found.update((p.hub_id, p) for p in self.session.scalars(select(Party).where(
                    Party.entity_id == entity_id, Party.kind == kind, Party.hub_id.in_(chunk))))
        for kind, found in self.documents.items():
            for chunk in _chunks(wanted[kind]):
                found.update((d.hub_id, d) for d in self.session.scalars(select(Document).where(
                    Document.entity_id == entity_id, Document.kind == kind, Document.hub_id.in_(chunk))
                    .options(selectinload(Document.lines), selectinload(Document.party))))
        for kind, found in self.payments.items():
            for chunk in _chunks(wanted[kind]):
                found.update((p.hub_id, p) for p in self.session.scalars(select(Payment).where(
                    Payment.entity_id == entity_id, Payment.kind == kind, Payment.hub_id.in_(chunk))
                    .options(selectinload(Payment.party),
                             selectinload(Payment.applications).selectinload(PaymentApplication.document))))
        by_id = {d.id: d for documents in self.documents.values() for d in documents.values()}
        document_ids = list(by_id)
        for chunk in _chunks(document_ids):
            for attachment in self.session.scalars(select(Attachment).where(Attachment.document_id.in_(chunk))):
                self.attachments[by_id[attachment.document_id]].append(attachment)
        for record_type, ids in ((RecordType.PARTY, [p.id for ps in self.parties.values() for p in ps.values()]),
                                 (RecordType.DOCUMENT, document_ids),
                                 (RecordType.PAYMENT, [p.id for ps in self.payments.values() for p in ps.values()])):
            for chunk in _chunks(ids):
                self.in_outbox[record_type].update(self.session.scalars(select(OutboxEntry.record_id).where(
                    OutboxEntry.entity_id == entity_id, OutboxEntry.record_type == record_type,
                    OutboxEntry.record_id.in_(chunk))))

    # -- applying --------------------------------------------------------------------------------

    def apply(self, kind: FeedKind, parsed: list[Parsed], upsert) -> None:
        """Records in chunks, each chunk in one savepoint and one flush (the database writes a chunk's rows
        in a few statements); a chunk the database refuses is rolled back and taken again record by record,
        so that whatever it still refuses costs that record only. (Strict intake is all or nothing: the
        caller's transaction is the unit.)"""
        if self.strict:
            for record, model in parsed:
                try:
                    self._settle(kind, record, model, upsert(kind, record, model))
                except _Refused as refused:
                    self.refuse(kind, record, model.hub_id, list(refused.reasons))
            return
        for start in range(0, len(parsed), _APPLY_CHUNK):
            chunk = parsed[start:start + _APPLY_CHUNK]
            if len(chunk) == 1 or not self._apply_together(kind, chunk, upsert):
                for record, model in chunk:
                    self._apply_alone(kind, record, model, upsert)

    def _apply_together(self, kind: FeedKind, chunk: list[Parsed], upsert) -> bool:
        """The chunk in one savepoint; False (and nothing of it kept) when the database refuses it."""
        in_outbox = {record_type: set(ids) for record_type, ids in self.in_outbox.items()}
        attachments = dict(self.attachments)
        documents = {name: dict(index) for name, index in self.documents.items()}  # a kind switch moves one
        held = len(self.report.held_after_export)
        outcomes: list[Outcome | _Refused] = []
        try:
            with observability.counted_only_if_kept(), self.session.begin_nested():
                for record, model in chunk:
                    try:  # an upsert refuses a record before it changes anything
                        outcomes.append(upsert(kind, record, model))
                    except _Refused as refused:
                        outcomes.append(refused)
                self.session.flush()
        except SQLAlchemyError:
            for _, model in chunk:
                self._forget(kind, model.hub_id)
            self.in_outbox.clear()
            self.in_outbox.update(in_outbox)
            self.attachments.clear()
            self.attachments.update(attachments)
            del self.report.held_after_export[held:]
            self.documents = documents
            return False
        for (record, model), outcome in zip(chunk, outcomes):
            if isinstance(outcome, _Refused):
                self.refuse(kind, record, model.hub_id, list(outcome.reasons))
            else:
                self._settle(kind, record, model, outcome)
        return True

    def _apply_alone(self, kind: FeedKind, record: SourceRecord, model, upsert) -> None:
        try:
            with observability.counted_only_if_kept(), self.session.begin_nested():
                outcome = upsert(kind, record, model)
                self.session.flush()
        except _Refused as refused:
            self.refuse(kind, record, model.hub_id, list(refused.reasons))
            return
        except SQLAlchemyError as exc:
            self._forget(kind, model.hub_id)
            self.refuse(kind, record, model.hub_id, [Reason("record", f"the ledger refused it: {_first_line(exc)}")])
            return
        self._settle(kind, record, model, outcome)

    def _settle(self, kind: FeedKind, record: SourceRecord, model, outcome: Outcome) -> None:
        self.report.counts[kind.key][outcome] += 1
        self._decided(kind, record, model.hub_id, taken=outcome != Outcome.CHANGED_AFTER_EXPORT)

    def _decided(self, kind: FeedKind, record: SourceRecord, hub_id: str, taken: bool) -> None:
        place = self.sequence.get(id(record), 0)
        latest = self.taken[kind.quarantine_dataset].get(hub_id)
        if latest is None or place >= latest[0]:
            self.taken[kind.quarantine_dataset][hub_id] = (place, taken)

    def _forget(self, kind: FeedKind, hub_id: str) -> None:
        """A record whose savepoint rolled back: an object inserted there is gone from the session."""
        for index in (self.parties, self.documents, self.payments):
            found = index.get(kind.ledger_kind, {}).get(hub_id)
            if found is not None and not inspect(found).persistent:
                del index[kind.ledger_kind][hub_id]

    def upsert_party(self, kind: FeedKind, record: SourceRecord, model) -> Outcome:
        values = {"name": model.name, "email": model.email, "tax_id": model.tax_id, "city": model.city,
                  "postcode": model.postcode, "auxiliary_account": model.auxiliary_account}
        party = self.parties[kind.ledger_kind].get(model.hub_id)
        if party is None:
            party = Party(entity_id=self.entity.id, kind=kind.ledger_kind, hub_id=model.hub_id, **values)
            self.session.add(party)
            self.parties[kind.ledger_kind][model.hub_id] = party
            return Outcome.NEW
        changed = _changed({name: getattr(party, name) for name in values}, values)
        if not changed:
            return Outcome.UNCHANGED
        # Its auxiliary account is the source's own, read when entries are built: taken even once exported.
        if party.id in self.in_outbox[RecordType.PARTY] and set(changed) - {"auxiliary_account"}:
            return self._held_after_export(kind, record, model.hub_id, changed, values)
        for name in changed:
            setattr(party, name, values[name])
        self._audit_update(kind, model.hub_id, changed)
        return Outcome.UPDATED

    def upsert_document(self, kind: FeedKind, record: SourceRecord, model) -> Outcome:
        party = self._party(kind, model)
        lines = _lines(model)
        total = getattr(model, "total", None)
        if total is None:
            # A journal entry's total is its debits; any other document's, all of its lines (a bank entry's
            # money in is on credit lines).
            total = money_sum(line["amount"] for line in lines
                              if kind.ledger_kind != "journal_entry" or line["posting_type"] != "credit")
            if not fits_the_ledger(total):
                raise _Refused(Reason("total", f"the lines add up to {total}, more than the ledger can hold"))
        attachments = [(a.file_name, a.content_type, a.content()) for a in model.attachments]
        values = {"party": party.hub_id if party else None, "doc_number": model.doc_number,
                  "doc_date": model.doc_date, "due_date": getattr(model, "due_date", None),
                  "currency": model.currency or self.entity.base_currency, "total": total, "memo": model.memo,
                  "journal_code": model.journal, "exchange_rate": model.exchange_rate,
                  "bank_account": getattr(model, "bank_account", None) or getattr(model, "deposit_account", None),
                  "status": model.status, "lines": lines,
                  "attachments": sorted((name, content_type, hashlib.sha256(content).hexdigest())
                                        for name, content_type, content in attachments)}
        scalars = {"doc_number", "doc_date", "due_date", "currency", "total", "memo", "journal_code", "exchange_rate",
                   "bank_account"}
        document = self.documents[kind.ledger_kind].get(model.hub_id)
        if model.exchange_rate is None and document is not None and document.currency == values["currency"] \
                and document.doc_date == values["doc_date"]:
            # The rate prepare_exports took from the accounting system stands: the source gave none to change.
            values["exchange_rate"] = document.exchange_rate
        switched = []
        if document is None and kind.ledger_kind in SAME_SALE:
            other = self.documents[SAME_SALE[kind.ledger_kind]].get(model.hub_id)
            if other is not None:
                if self._exported(RecordType.DOCUMENT, other.id, kind, model.hub_id, refused_is_exported=True):
                    return self._held_after_export(
                        kind, record, model.hub_id, ["kind"], {"kind": kind.ledger_kind},
                        f"it was exported as {_a(other.kind.replace('_', ' '))}, which stands: void it there by hand "
                        f"and enter the {kind.label} there, or change it back at the source")
                document, switched = self._switch_kind(other, kind), ["kind"]
        if document is None:
            document = Document(entity_id=self.entity.id, kind=kind.ledger_kind, hub_id=model.hub_id, party=party,
                                status=DocumentStatus(model.status), lines=[DocumentLine(**line) for line in lines],
                                **{name: values[name] for name in scalars})
            self.session.add(document)
            self.attachments[document] = self._attach(document, attachments)
            self.documents[kind.ledger_kind][model.hub_id] = document
            return Outcome.NEW
        current = {"party": document.party.hub_id if document.party else None,
                   **{name: getattr(document, name) for name in scalars}, "status": document.status,
                   "lines": [_line_values(line) for line in document.lines],
                   "attachments": sorted((a.file_name, a.content_type, a.sha256)
                                         for a in self.attachments[document])}
        changed = switched + _changed(current, values)
        if not changed:
            return Outcome.UNCHANGED
        followed = False
        if not switched and self._exported(RecordType.DOCUMENT, document.id, kind, model.hub_id):
            why_not = self._why_not_followed(document, changed, values)
            if why_not is not None:
                return self._held_after_export(kind, record, model.hub_id, changed, values, why_not)
            followed = True
        for name in scalars & set(changed):
            setattr(document, name, values[name])
        if {"exchange_rate", "total", "lines"} & set(changed):
            document.home_total = None  # worked out again, with the rate, when it is next prepared
        if "party" in changed:
            document.party = party
        if "status" in changed:
            document.status = DocumentStatus(model.status)
            if model.status == DocumentStatus.VOID:
                # Voided before export: it will never go out, so a hold of the export gate has nothing left to fix.
                quarantine.resolve(self.session, self.entity.id, kind.key, [model.hub_id])
        if "lines" in changed:
            document.lines.clear()
            self.session.flush()  # the old line numbers leave before the new ones arrive (unique per document)
            document.lines.extend(DocumentLine(**line) for line in lines)
        if "attachments" in changed:
            for attachment in self.attachments.pop(document, []):
                self.session.delete(attachment)
            self.session.flush()  # file names are unique per document: the old ones leave first
            self.attachments[document] = self._attach(document, attachments)
        if followed:
            return self._follow(kind, document, changed)
        self._audit_update(kind, model.hub_id, changed)
        return Outcome.UPDATED

    def _switch_kind(self, document: Document, kind: FeedKind) -> Document:
        """A sale never exported that the source now calls the other kind (credit became cash): the same
        document, of the new kind; a hold of the export gate under the old kind has nothing left to hold."""
        old = KINDS_BY_LEDGER_KIND[document.kind]
        del self.documents[old.ledger_kind][document.hub_id]
        document.kind = kind.ledger_kind
        self.documents[kind.ledger_kind][document.hub_id] = document
        quarantine.resolve(self.session, self.entity.id, old.key, [document.hub_id])
        return document

    def _why_not_followed(self, document: Document, changed: list[str], values: dict[str, Any]) -> str | None:
        """Why a change to an exported document cannot be followed by the accounting system (None: it can):
        the entity's source holds changes after export for a person, the document
        is void already, it went back to draft (the document there stands), or its files changed."""
        source = self.entity.source
        if source is None or not source.follows_changes:
            return "the accounting system keeps the version exported: change it there by hand"
        if values["status"] == DocumentStatus.DRAFT:
            return ("it went back to a status that is not exported; the document in the accounting system "
                    "stands: void or change it there by hand")
        if "attachments" in changed:
            return "files added or changed after export are not sent again: attach them there by hand"
        # Last, as it withdraws a void not sent yet: only for a change that is followed.
        if document.status == DocumentStatus.VOID and not self._void_withdrawn(document):
            return "it is void in the accounting system already; a void document is not changed again"
        return None

    def _void_withdrawn(self, document: Document) -> bool:
        """A void taken in but not sent (queued and never tried, or not queued yet), or refused by the
        accounting system, is no void there: the source changing its mind is followed. Once a void may
        have reached the accounting system, it stands."""
        voids = (OutboxEntry.entity_id == self.entity.id, OutboxEntry.record_type == RecordType.DOCUMENT,
                 OutboxEntry.record_id == document.id, OutboxEntry.operation == VOID)
        state = self.session.scalar(select(OutboxEntry.state).where(*voids))
        if state is None or state == OutboxState.REJECTED:
            return True
        # Conditional, like a withdrawn creation: a sender that claims it first wins.
        return bool(self.session.execute(delete(OutboxEntry).where(
            *voids, OutboxEntry.state == OutboxState.PENDING, OutboxEntry.attempts == 0,
            OutboxEntry.claimed_by.is_(None))).rowcount)

    def _follow(self, kind: FeedKind, document: Document, changed: list[str]) -> Outcome:
        """The ledger takes the change; prepare_exports queues it as one operation (update to this version,
        or void). A change queued earlier and never sent is superseded by this one."""
        document.version += 1
        superseded = self.session.execute(delete(OutboxEntry).where(
            OutboxEntry.entity_id == self.entity.id, OutboxEntry.record_type == RecordType.DOCUMENT,
            OutboxEntry.record_id == document.id, OutboxEntry.operation != CREATE,
            OutboxEntry.state == OutboxState.PENDING, OutboxEntry.attempts == 0,
            OutboxEntry.claimed_by.is_(None))).rowcount
        audit(self.session, self.entity.id, "source", "changed_after_export_followed", kind.ledger_kind,
              document.hub_id, {"fields": changed, "version": document.version, "superseded": superseded,
                                "void": document.status == DocumentStatus.VOID})
        return Outcome.FOLLOWED

    def _attach(self, document: Document, attachments: list[tuple[str, str, bytes]]) -> list[Attachment]:
        added = [Attachment(entity_id=self.entity.id, document=document, file_name=name, content_type=content_type,
                            size=len(content), sha256=hashlib.sha256(content).hexdigest(), content=content)
                 for name, content_type, content in attachments]
        self.session.add_all(added)
        return added

    def upsert_payment(self, kind: FeedKind, record: SourceRecord, model) -> Outcome:
        party = self._party(kind, model)
        documents = self.documents[kind.pays]
        unknown = [Reason(f"applied.{hub_id}", f"unknown hub {kind.pays}", hub_id)
                   for hub_id in model.applied if hub_id not in documents]
        if unknown:
            raise _Refused(*unknown)
        values = {"party": party.hub_id, "payment_date": model.payment_date, "amount": model.amount,
                  "currency": model.currency or self.entity.base_currency, "exchange_rate": model.exchange_rate,
                  "bank_account_code": getattr(model, "bank_account", None) or getattr(model, "deposit_account", None),
                  "reference": model.reference, "status": model.status, "applied": dict(model.applied)}
        scalars = {"payment_date", "amount", "currency", "exchange_rate", "bank_account_code", "reference"}
        payment = self.payments[kind.ledger_kind].get(model.hub_id)
        if model.exchange_rate is None and payment is not None and payment.currency == values["currency"] \
                and payment.payment_date == values["payment_date"]:
            # The rate export_payments took from the accounting system stands: the source gave none to change.
            values["exchange_rate"] = payment.exchange_rate
        if payment is None:
            payment = Payment(entity_id=self.entity.id, kind=kind.ledger_kind, hub_id=model.hub_id,
                              party=party, status=DocumentStatus(model.status),
                              applications=self._applications(kind, model.applied),
                              **{name: values[name] for name in scalars})
            self.session.add(payment)
            self.payments[kind.ledger_kind][model.hub_id] = payment
            return Outcome.NEW
        current = {"party": payment.party.hub_id if payment.party else None,
                   **{name: getattr(payment, name) for name in scalars}, "status": payment.status,
                   "applied": {a.document.hub_id: a.amount for a in payment.applications}}
        changed = _changed(current, values)
        if not changed:
            return Outcome.UNCHANGED
        if self._exported(RecordType.PAYMENT, payment.id, kind, model.hub_id):
            return self._held_after_export(kind, record, model.hub_id, changed, values)
        for name in scalars & set(changed):
            setattr(payment, name, values[name])
        if {"exchange_rate", "amount"} & set(changed):
            payment.home_amount = None  # worked out again, with the rate, when it is next checked
        if "party" in changed:
            payment.party = party
        if "status" in changed:
            payment.status = DocumentStatus(model.status)
        if "applied" in changed:
            payment.applications.clear()
            self.session.flush()
            payment.applications.extend(self._applications(kind, model.applied))
        self._audit_update(kind, model.hub_id, changed)
        return Outcome.UPDATED

    def _applications(self, kind: FeedKind, applied: dict) -> list[PaymentApplication]:
        return [PaymentApplication(document=self.documents[kind.pays][hub_id], amount=amount)
                for hub_id, amount in applied.items()]

    def _party(self, kind: FeedKind, model) -> Party | None:
        """The party the record names (None where it may name none: a bank entry's is optional)."""
        named = [field for field in kind.party_fields if getattr(model, field, None)]
        if not named:
            return None
        role = named[0]
        hub_id = getattr(model, role)
        party = self.parties[role].get(hub_id)
        if party is None:
            held = f" (its own record is quarantined: source.{role}s)" if hub_id in self.refused_ids[
                f"{role}s"] else ""
            raise _Refused(Reason(role, f"unknown hub {role} {hub_id!r}{held}", hub_id))
        return party

    def _exported(self, record_type: RecordType, record_id: int, kind: FeedKind, hub_id: str, *,
                  refused_is_exported: bool = False) -> bool:
        """Whether the accounting system has, or may have, this record. A row never sent (queued by a dry
        run, or left pending by an export that stopped before it) is withdrawn instead, so the record is
        updated and goes through the export gate again as it is now; a sender that claims it first wins."""
        if record_id not in self.in_outbox[record_type]:
            return False
        if not refused_is_exported and self._refused_and_nothing_since(record_type, record_id):
            return False  # the accounting system has nothing of it: the fix is taken in, for a person's Retry
        withdrawn = self.session.execute(delete(OutboxEntry).where(
            OutboxEntry.entity_id == self.entity.id, OutboxEntry.record_type == record_type,
            OutboxEntry.record_id == record_id, OutboxEntry.operation == CREATE, OutboxEntry.state == OutboxState.PENDING,
            OutboxEntry.attempts == 0, OutboxEntry.claimed_by.is_(None))).rowcount
        if not withdrawn:
            return True  # sent (or on its way): with a create row, or with changes after it
        self.in_outbox[record_type].discard(record_id)
        audit(self.session, self.entity.id, "source", "outbox_withdrawn", kind.ledger_kind, hub_id,
              {"why": "changed at the source before it was ever sent"})
        return False

    def _refused_and_nothing_since(self, record_type: RecordType, record_id: int) -> bool:
        """Whether the record's creation was refused (or is to be retried) and nothing else was queued."""
        states = dict(self.session.execute(select(OutboxEntry.operation, OutboxEntry.state).where(
            OutboxEntry.entity_id == self.entity.id, OutboxEntry.record_type == record_type,
            OutboxEntry.record_id == record_id)).all())
        return set(states) == {CREATE} and states[CREATE] in (OutboxState.REJECTED, OutboxState.RETRY)

    def _held_after_export(self, kind: FeedKind, record: SourceRecord, hub_id: str, changed: list[str],
                           values: dict[str, Any],
                           why: str = "the accounting system keeps the version exported: change it there by hand",
                           ) -> Outcome:
        """The accounting system has (or is about to get) the version the ledger holds: keep it, hold the change."""
        reasons = []
        for name in changed:
            if name == "status" and values[name] == DocumentStatus.VOID:
                reasons.append(Reason("status", "voided at the source after export; the accounting system still "
                                      "holds the record: void it there by hand", "void", CHANGED_AFTER_EXPORT))
            else:
                reasons.append(Reason(name, f"changed at the source after export; {why}", _shown(values[name]),
                                      CHANGED_AFTER_EXPORT))
        quarantine.hold(self.session, self.entity.id, kind.quarantine_dataset, hub_id, reasons,
                        {"hub_id": hub_id, "origin": str(record.origin), "record": _storable(record.data),
                         "changed": changed})
        audit(self.session, self.entity.id, "source", "changed_after_export", kind.ledger_kind, hub_id,
              {"fields": changed, "origin": str(record.origin)})
        self.report.held_after_export.append(HeldAfterExport(kind, hub_id, record.origin, tuple(changed)))
        return Outcome.CHANGED_AFTER_EXPORT

    def _audit_update(self, kind: FeedKind, hub_id: str, changed: list[str]) -> None:
        audit(self.session, self.entity.id, "source", "updated_from_source", kind.ledger_kind, hub_id,
              {"fields": changed})

    def settle_quarantine(self) -> None:
        """Records held at intake before and taken in now (their last word in this batch) leave quarantine."""
        for dataset, outcomes in self.taken.items():
            taken = [hub_id for hub_id, (_, ok) in outcomes.items() if ok]
            self.report.released += quarantine.resolve(self.session, self.entity.id, dataset, taken)


def _lines(model) -> list[dict[str, Any]]:
    """The ledger's lines of a document record, as column values: its line schema decides, not its
    kind, so a kind reusing a line schema (credit notes: invoices' lines by item) needs nothing here."""
    direction = getattr(model, "direction", None)  # a bank entry's: its lines' posting type
    return [{"line_no": n, "description": line.description, "class_code": line.class_,
             **_line_columns(line, direction)}
            for n, line in enumerate(model.lines, start=1)]


def _line_columns(line, direction: str | None = None) -> dict[str, Any]:
    empty = {"account_code": None, "item_code": None, "quantity": None, "unit_price": None, "posting_type": None,
             "tax_code": None, "tax_amount": None, "line_date": None}
    if isinstance(line, HubSalesLine):
        return {**empty, "amount": line.line_amount(), "item_code": line.item, "quantity": line.quantity,
                "unit_price": line.unit_price, "tax_code": line.tax_code, "tax_amount": line.tax_amount}
    if isinstance(line, HubBankLine):
        return {**empty, "amount": line.amount, "account_code": line.account, "tax_code": line.tax_code,
                "tax_amount": line.tax_amount, "posting_type": "credit" if direction == "in" else "debit"}
    if isinstance(line, HubExpenseLine):
        return {**empty, "amount": line.amount, "account_code": line.account, "tax_code": line.tax_code,
                "tax_amount": line.tax_amount, "line_date": line.day}
    if isinstance(line, HubJournalLine):
        debit = line.debit is not None
        return {**empty, "amount": line.debit if debit else line.credit, "posting_type": "debit" if debit else "credit",
                "account_code": line.account}
    return {**empty, "amount": line.amount, "account_code": line.account, "tax_code": line.tax_code,
            "tax_amount": line.tax_amount}


def _line_values(line: DocumentLine) -> dict[str, Any]:
    return {"line_no": line.line_no, "amount": line.amount, "account_code": line.account_code,
            "item_code": line.item_code, "quantity": line.quantity, "unit_price": line.unit_price,
            "posting_type": line.posting_type, "description": line.description, "class_code": line.class_code,
            "tax_code": line.tax_code, "tax_amount": line.tax_amount, "line_date": line.line_date}


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _changed(current: dict[str, Any], incoming: dict[str, Any]) -> list[str]:
    """Names of the values that differ (Decimal compares by value: 100.00 == 100.0000)."""
    return [name for name, value in incoming.items() if current.get(name) != value]


def _usable_code(data: Any) -> str | None:
    """A journal record's code, where it can name the journal in a reason."""
    code = data.get("code") if isinstance(data, dict) else None
    if isinstance(code, str) and code.strip() and len(code.strip()) <= 20 and "\x00" not in code:
        return code.strip()
    return None


def _usable_hub_id(data: Any) -> str | None:
    hub_id = data.get("hub_id") if isinstance(data, dict) else None
    if isinstance(hub_id, str) and hub_id.strip() and len(hub_id.strip()) <= HUB_ID and "\x00" not in hub_id:
        return hub_id.strip()
    return None


def _shown(value: Any) -> Any:
    """An offending value small and plain enough to show in a reason."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # what JSON cannot hold (YAML's .inf, a JSON 1e400) is shown as text
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return None
    text = str(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


def _storable(data: Any, depth: int = 0) -> Any:
    """The record as a person needs it in quarantine: attachments' content and long texts cut short."""
    if depth > 20:
        return "..."
    if isinstance(data, dict):
        return {str(key): f"<{len(value)} base64 characters>" if key == "content_base64" and isinstance(value, str)
                else _storable(value, depth + 1) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_storable(value, depth + 1) for value in data[:1000]]
    if isinstance(data, str) and len(data) > 2000:
        return data[:2000] + f"... ({len(data)} characters)"
    if isinstance(data, float) and not math.isfinite(data):
        return repr(data)  # YAML's .nan and .inf, JSON's 1e400: the quarantine's JSON holds no such number
    if data is None or isinstance(data, (str, int, float, bool)):
        return data
    return str(data)


def _first_line(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0][:300]


def _chunks(values: Iterable, size: int = _CHUNK) -> Iterable[list]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def records_of_mapping(data: dict[str, Any], source: str = "the feed") -> Sequence[SourceRecord]:
    """The records of a plain mapping {kind key: [record, ...]} in intake order, numbered per kind."""
    if not isinstance(data, dict):
        raise HubRecordError(f"{source} holds {_a(type(data).__name__)}, not a mapping of record kinds "
                             f"({', '.join(KINDS_BY_KEY)})")
    unknown = sorted((key for key in data if key not in KINDS_BY_KEY and key != JOURNALS), key=str)
    if unknown:
        raise HubRecordError(f"unknown kind(s) {', '.join(map(repr, unknown))} in {source}; known: "
                             f"{JOURNALS}, {', '.join(KINDS_BY_KEY)}")
    for key, listed in data.items():
        if listed is not None and not isinstance(listed, (list, tuple)):
            raise HubRecordError(f"field '{key}' of {source} holds {_a(type(listed).__name__)}, not a list of records")
    return [SourceRecord(key, raw, Origin(source, position))
            for key in (JOURNALS, *(kind.key for kind in RECORD_KINDS))
            for position, raw in enumerate(data.get(key) or [], start=1)]
