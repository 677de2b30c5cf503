"""From the ledger's documents to entries: a bill becomes a purchase entry, a journal entry its own lines.

Pure functions over the ORM objects already loaded (lines, party and its link eagerly, so that no
lazy load happens on a detached object); only `attachment_names_by_document` reads the ledger.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerbridge.ledger.models import (
    Attachment,
    Document,
    DocumentKind,
    DocumentStatus,
    LinkStatus,
    Party,
)

from .entries import Entry, EntryError, EntryLine, Side, entry_rows


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
    currency: str | None = None  # the entity's currency; a document in another one is refused
    party_code: Callable[[Party], str] = default_party_code


def document_source(document: Document) -> str:
    return f"{document.kind.replace('_', ' ')} {document.hub_id}"


def signed_line(account: str | None, signed_amount: Decimal, label: str, subsidiary: str = "") -> EntryLine | None:
    """Positive is a debit. A negative amount (a discount line) goes on the other side, as a positive
    amount; a zero line has nothing to post and is left out."""
    if signed_amount == 0:
        return None
    side = Side.DEBIT if signed_amount > 0 else Side.CREDIT
    return EntryLine(account or "", side, abs(signed_amount), label, subsidiary)


def _check_document(document: Document, config: EntryConfig) -> None:
    source = document_source(document)
    if document.status == DocumentStatus.VOID:
        raise EntryError(source, "is void; nothing to post")
    if config.currency and document.currency != config.currency:
        raise EntryError(source, f"is in {document.currency}; this entry file is in {config.currency}")


def _party_code(document: Document, config: EntryConfig, role: str) -> str:
    if document.party is None:
        raise EntryError(document_source(document), f"has no {role}; its payable needs the {role}'s account")
    code = config.party_code(document.party)
    if not code:
        raise EntryError(document_source(document), f"{role} {document.party.hub_id} has no account code")
    return code


def _account_of(document: Document, line_no: int, account_code: str | None) -> str:
    if not account_code:
        raise EntryError(document_source(document), f"line {line_no} has no account code")
    return account_code


def bill_entry(bill: Document, config: EntryConfig, attachment_names: Sequence[str] = ()) -> Entry:
    """One credit of the total on the vendor's payable, one debit per expense line."""
    _check_document(bill, config)
    vendor = _party_code(bill, config, "vendor")
    heading = " ".join(filter(None, (bill.party.name, bill.doc_number)))
    lines = [signed_line(config.payables_account, -bill.total, heading, vendor)]
    lines += [signed_line(_account_of(bill, line.line_no, line.account_code), line.amount,
                          line.description or bill.memo or heading) for line in bill.lines]
    return _entry(bill, config.purchases_journal, lines, attachment_names)


def _posting_sign(document: Document, line_no: int, posting_type: str | None) -> int:
    if posting_type not in (Side.DEBIT, Side.CREDIT):
        raise EntryError(document_source(document), f"line {line_no} posting type {posting_type!r} "
                                                    "must be debit or credit")
    return 1 if posting_type == Side.DEBIT else -1


def _journal_subsidiary(document: Document, config: EntryConfig, account: str) -> str:
    """The party's code on a payables or receivables line; other lines have none."""
    if document.party is None or account not in (config.payables_account, config.receivables_account):
        return ""
    return config.party_code(document.party) or ""


def journal_entry_entry(entry: Document, config: EntryConfig, attachment_names: Sequence[str] = ()) -> Entry:
    """The journal entry's own lines, on their own sides."""
    _check_document(entry, config)
    lines = []
    for line in entry.lines:
        account = _account_of(entry, line.line_no, line.account_code)
        sign = _posting_sign(entry, line.line_no, line.posting_type)
        lines.append(signed_line(account, sign * line.amount, line.description or entry.memo or "",
                                 _journal_subsidiary(entry, config, account)))
    return _entry(entry, config.journal_entries_journal, lines, attachment_names)


def _entry(document: Document, journal: str, lines: list[EntryLine | None],
           attachment_names: Sequence[str]) -> Entry:
    return Entry(document_source(document), journal, document.doc_date, document.doc_number or document.hub_id,
                 tuple(line for line in lines if line is not None), tuple(attachment_names))


CONVERTERS = {DocumentKind.BILL: bill_entry, DocumentKind.JOURNAL_ENTRY: journal_entry_entry}


def document_entry(document: Document, config: EntryConfig, attachment_names: Sequence[str] = ()) -> Entry:
    convert = CONVERTERS.get(document.kind)
    if convert is None:
        raise EntryError(document_source(document), f"{document.kind} documents have no entry-file layout; "
                                                    f"only {', '.join(CONVERTERS)} do")
    return convert(document, config, attachment_names)


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
