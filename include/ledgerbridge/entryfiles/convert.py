"""From the ledger's documents to entries, for the `ledgerbridge entry-files` CLI: a document becomes
the export payload a connector is given (the same export dataclasses), and the payload an entry by
the entry-files connector's own building (building.py), over no chart of accounts: any account code
is taken, labelled by itself.

Pure functions over the ORM objects already loaded (lines, party and its link eagerly, so that no
lazy load happens on a detached object); only `attachment_names_by_document` reads the ledger.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerbridge.connectors.base import BillExport, JournalEntryExport, JournalLineExport, LineExport, ReferenceData
from ledgerbridge.ledger.models import (
    Attachment,
    Document,
    DocumentKind,
    DocumentStatus,
    LinkStatus,
    Party,
)

from .building import EntryBuilder, EntryRules, plain
from .entries import Entry, EntryError, entry_rows


def default_party_code(party: Party) -> str:
    """The party's account in the target software: its linked id when a link was decided, else the hub id."""
    link = party.link
    if link is not None and link.status == LinkStatus.LINKED and link.external_id:
        return link.external_id
    return party.hub_id


@dataclass(frozen=True)
class EntryConfig:
    payables_account: str  # the vendors' control account, e.g. "401000" or "2000"
    receivables_account: str | None = None  # journal entry lines on it carry the customer's code
    purchases_journal: str = "PUR"
    journal_entries_journal: str = "OD"
    currency: str | None = None  # the entity's currency; a document in another one needs its exchange rate
    party_code: Callable[[Party], str] = default_party_code

    def journal(self, kind: str) -> str:
        return self.purchases_journal if kind == DocumentKind.BILL else self.journal_entries_journal


def document_source(document: Document) -> str:
    return f"{document.kind.replace('_', ' ')} {document.hub_id}"


def _party_code(document: Document, config: EntryConfig, role: str) -> str:
    if document.party is None:
        raise EntryError(document_source(document), f"has no {role}; its payable needs the {role}'s account")
    code = config.party_code(document.party)
    if not code:
        raise EntryError(document_source(document), f"{role} {document.party.hub_id} has no account code")
    return code


def _bill_payload(bill: Document, config: EntryConfig) -> dict:
    lines = tuple(LineExport(line.amount, line.account_code or "", line.description) for line in bill.lines)
    return plain(dataclasses.asdict(BillExport(
        bill.hub_id, _party_code(bill, config, "vendor"), bill.doc_number, bill.doc_date, bill.due_date,
        bill.currency, bill.total, lines, bill.memo, exchange_rate=bill.exchange_rate)))


def _journal_entry_payload(entry: Document, config: EntryConfig) -> dict:
    """The journal entry's export, and its party (if any) for the lines on a control account."""
    lines = tuple(JournalLineExport(line.posting_type or "", line.amount, line.account_code or "", line.description)
                  for line in entry.lines)
    payload = plain(dataclasses.asdict(JournalEntryExport(entry.hub_id, entry.doc_number, entry.doc_date,
                                                          entry.currency, lines, entry.memo,
                                                          exchange_rate=entry.exchange_rate)))
    code = config.party_code(entry.party) if entry.party is not None else ""
    return {**payload, "party_kind": entry.party.kind, "party_id": code} if code else payload


PAYLOADS = {DocumentKind.BILL: _bill_payload, DocumentKind.JOURNAL_ENTRY: _journal_entry_payload}


def document_entry(document: Document, config: EntryConfig, attachment_names: Sequence[str] = ()) -> Entry:
    """The entry of a bill (the vendor's payable credited, each expense line debited) or a journal
    entry (its own lines), as the entry-files connector builds it."""
    source = document_source(document)
    payload_of = PAYLOADS.get(document.kind)
    if payload_of is None:
        raise EntryError(source, f"{document.kind} documents have no entry-file layout; only "
                                 f"{', '.join(PAYLOADS)} do")
    if document.status == DocumentStatus.VOID:
        raise EntryError(source, "is void; nothing to post")
    payload = payload_of(document, config)
    party = document.party
    known = {payload.get("vendor_id") or payload.get("party_id"): ReferenceData("", party.name, True, None)} \
        if party is not None else {}
    rules = EntryRules(config.payables_account, config.receivables_account, config.journal,
                       config.currency or document.currency)
    entry = EntryBuilder(rules, lambda kind: known if kind in ("vendor", "customer") else {}).entry(
        document.kind, payload)
    return dataclasses.replace(entry, attachment_names=tuple(attachment_names))


@dataclass(frozen=True)
class Converted:
    entries: list[Entry]  # each checked: entry_rows will not raise for them
    refused: list[EntryError]  # one per document left out, with the reason a person can act on


def convert_documents(documents: Iterable[Document], config: EntryConfig,
                      attachment_names: Mapping[int, Sequence[str]] | None = None) -> Converted:
    """Entries for the documents that can be posted; a bad document is refused, the others go on."""
    entries, refused = [], []
    for document in documents:
        try:
            entry = document_entry(document, config, (attachment_names or {}).get(document.id, ()))
            entry_rows(entry)  # checks balance and amounts now, so one bad document never stops a file
        except EntryError as exc:
            refused.append(exc)
        else:
            entries.append(entry)
    return Converted(entries, refused)


def attachment_names_by_document(session: Session, entity_id: str, document_ids: Iterable[int]) -> dict[int, list[str]]:
    """Attachment file names per document id, without loading the files' contents."""
    names: dict[int, list[str]] = {}
    query = (select(Attachment.document_id, Attachment.file_name)
             .where(Attachment.entity_id == entity_id, Attachment.document_id.in_(list(document_ids)))
             .order_by(Attachment.document_id, Attachment.id))
    for document_id, file_name in session.execute(query):
        names.setdefault(document_id, []).append(file_name)
    return names
