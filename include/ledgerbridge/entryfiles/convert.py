"""From the ledger's documents to entries, for the `ledgerbridge entry-files` CLI: a document becomes
the export payload a connector is given, built by its record kind (kinds/*.py, the same `build` the
DAG's export step calls) over the ledger's own codes instead of an accounting system's mirror, and
the payload an entry by the entry-files connector's own building (building.py), over no chart of
accounts: any account code is taken, labelled by itself. What the accountant's lists would say (an
item's income account, a tax code's rate and account) comes from `EntryConfig`.

Pure functions over the ORM objects already loaded (lines, party and its link eagerly, so that no
lazy load happens on a detached object); only `attachment_names_by_document` reads the ledger.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerbridge import kinds
from ledgerbridge.connectors.base import ReferenceData
from ledgerbridge.kinds.document import DocumentRecordKind
from ledgerbridge.ledger.mirror import source_journals
from ledgerbridge.ledger.models import (
    Attachment,
    Document,
    DocumentKind,
    DocumentStatus,
    LinkStatus,
    Party,
    PartyLink,
    ReferenceRecord,
)
from ledgerbridge.registry import DEFAULT_JOURNALS

from .building import EntryBuilder, EntryRules, plain
from .entries import Entry, EntryError, entry_rows

# The kinds whose purchases journal is configurable as one (a vendor's credit goes with the bills, as the DAG posts it).
PURCHASE_KINDS = (DocumentKind.BILL, DocumentKind.VENDOR_CREDIT)


def default_party_code(party: Party, mirrored: Mapping[tuple[str, str], str] | None = None) -> str:
    """The party's account in the target software (an entry's CompAuxNum): the auxiliary account the hub party
    declared, else the one the mirror gives the accounting party it is linked to (`mirrored`: (kind, external
    id) -> auxiliary account, see mirrored_auxiliary_accounts), else its linked id when a link was decided,
    else the hub id."""
    if party.auxiliary_account:
        return party.auxiliary_account
    link = party.link
    if link is not None and link.status == LinkStatus.LINKED and link.external_id:
        return (mirrored or {}).get((str(party.kind), link.external_id)) or link.external_id
    return party.hub_id


def mirrored_auxiliary_accounts(session: Session, entity_id: str) -> dict[tuple[str, str], str]:
    """(vendor | customer, external id) -> the auxiliary account the mirror of the accounting side gives it."""
    return {(str(kind), external_id): account for kind, external_id, account in session.execute(
        select(ReferenceRecord.kind, ReferenceRecord.external_id, ReferenceRecord.auxiliary_account).where(
            ReferenceRecord.entity_id == entity_id, ReferenceRecord.kind.in_(("vendor", "customer")),
            ReferenceRecord.auxiliary_account.is_not(None), ReferenceRecord.auxiliary_account != "",
            ReferenceRecord.deleted_at.is_(None)))}


@dataclass(frozen=True)
class Declared:
    """What the entity's source declared that entries show: its journals' names (JournalLib), and the
    auxiliary accounts of hub parties by the code the books know them by (CompAuxNum)."""

    journal_names: Mapping[str, str] = field(default_factory=dict)
    auxiliary_accounts: Mapping[tuple[str, str], str] = field(default_factory=dict)


def source_declarations(session: Session, entity_id: str) -> Declared:
    """The journals the source declared (active or not: the name is still the journal's), and the auxiliary
    account of each hub party linked to a party of the books (the first hub party's, where two link to one)."""
    accounts: dict[tuple[str, str], str] = {}
    for kind, external_id, account in session.execute(
            select(Party.kind, PartyLink.external_id, Party.auxiliary_account).join(PartyLink, PartyLink.party_id ==
                                                                                    Party.id)
            .where(Party.entity_id == entity_id, Party.auxiliary_account.is_not(None), Party.auxiliary_account != "",
                   PartyLink.status == LinkStatus.LINKED, PartyLink.external_id.is_not(None)).order_by(Party.id)):
        accounts.setdefault((str(kind), external_id), account)
    names = {code: journal.name for code, journal in source_journals(session, entity_id).items()}
    return Declared(names, accounts)


@dataclass(frozen=True)
class TaxCode:
    """What the accountant's tax code list says of one code: its rate (percent) and where its tax goes."""
    rate: Decimal
    account: str


@dataclass(frozen=True)
class EntryConfig:
    payables_account: str  # the vendors' control account, e.g. "401000" or "2000"
    receivables_account: str | None = None  # the customers': invoices, credit notes, sales receipts need it
    purchases_journal: str = "PUR"  # bills and vendor credits
    journal_entries_journal: str = "OD"
    journals: Mapping[str, str] = field(default_factory=dict)  # kind -> journal, over the ones above and the DAG's
    currency: str | None = None  # the entity's currency; a document in another one needs its exchange rate
    party_code: Callable[[Party], str] = default_party_code
    income_account: str | None = None  # where a sales line goes when its item has no account of its own
    item_accounts: Mapping[str, str] = field(default_factory=dict)  # item code -> income account
    tax_codes: Mapping[str, TaxCode] = field(default_factory=dict)  # a line's tax code -> its rate and account
    amounts_include_tax: bool = False  # the source's line amounts include their tax (source.amounts_include_tax)
    journal_names: Mapping[str, str] = field(default_factory=dict)  # the source's declared journals: code -> name

    def journal(self, kind: str) -> str:
        """The kind's journal: as configured, else the purchases or journal entries one, else the DAG's default."""
        if kind in self.journals:
            return self.journals[kind]
        if kind in PURCHASE_KINDS:
            return self.purchases_journal
        if kind == DocumentKind.JOURNAL_ENTRY:
            return self.journal_entries_journal
        return DEFAULT_JOURNALS[kind]

    def item_account(self, item: str | None) -> str | None:
        return self.item_accounts.get(item or "") or self.income_account


def document_source(document: Document) -> str:
    return f"{document.kind.replace('_', ' ')} {document.hub_id}"


class _Code:
    """A ledger code standing for itself, where a mirror's record would give the accounting system's id."""

    def __init__(self, code: str | None):
        self.external_id = code or ""


class _Codes:
    def get(self, code: str | None) -> _Code:
        return _Code(code)


class LedgerCodes:
    """The Resolver a kind's `build` is given (ledger/mirror.py), over no mirror: each code is its own id.
    An account left empty stays empty, and the entry's building names the line that lacks it."""

    def __init__(self, config: EntryConfig):
        self.amounts_include_tax = config.amounts_include_tax
        self.accounts = self.items = _Codes()

    def class_id(self, code: str | None) -> str | None:
        return code or None

    def tax_code_id(self, code: str | None) -> str | None:
        return code or None

    def journal_code_id(self, code: str | None) -> str | None:
        return code or None

    def collective_account_id(self, party_kind: str, party_id: str) -> str | None:
        return None  # the entity's payables/receivables accounts come from its entry-files settings

    def tax_rate_parts(self, code: str | None, purchase: bool = False) -> tuple:
        return ()  # entry files post a line's tax on its tax code's account, never per rate


def _document_kind(document: Document, source: str) -> DocumentRecordKind:
    kind = next((kind for kind in kinds.documents() if kind.ledger_kind == document.kind), None)
    if kind is None:
        raise EntryError(source, f"{document.kind} documents have no entry-file layout; only "
                                 f"{', '.join(kind.name for kind in kinds.documents())} do")
    return kind


def document_payload(document: Document, config: EntryConfig) -> dict:
    """The document's export payload, as its kind builds it for any accounting system, the party's
    account code standing for the linked id; a party named on a kind without one (a journal entry's)
    is added for the lines on a control account."""
    source = document_source(document)
    kind = _document_kind(document, source)
    party = document.party
    if party is None and kind.party_role:
        raise EntryError(source, f"has no {kind.party_role}; its entry needs the {kind.party_role}'s account")
    code = config.party_code(party) if party is not None else None
    if party is not None and not code:
        raise EntryError(source, f"{party.kind} {party.hub_id} has no account code")
    export = kind.build(document, code, LedgerCodes(config))
    if document.exchange_rate is not None:
        export = dataclasses.replace(export, exchange_rate=document.exchange_rate)
    payload = plain(dataclasses.asdict(export))
    if code and "party_id" not in payload and not kind.party_role:
        payload = {**payload, "party_kind": party.kind, "party_id": code}
    return payload


def _check_lists(source: str, payload: dict, config: EntryConfig) -> None:
    """What the accountant's lists would have said, said by the configuration instead, or the line that lacks it."""
    if payload.get("bank_account_id") == "":  # a bank entry's own account, left empty (an expense report's is None)
        raise EntryError(source, "has no bank account to post its total on")
    for number, line in enumerate(payload["lines"], start=1):
        item = line.get("item_id")
        if "item_id" in line and not config.item_account(item):
            raise EntryError(source, f"line {number}: item {item!r} has no income account: set income_account "
                                     f"(--income-account) or item_accounts (--item-account {item}=ACCOUNT)" if item
                             else f"line {number} has no item, and no income_account (--income-account) to post it on")
        tax_code = line.get("tax_code_id")
        if tax_code and tax_code not in config.tax_codes:
            raise EntryError(source, f"line {number}: tax code {tax_code!r} has no rate and account: set tax_codes "
                                     f"(--tax-code {tax_code}=RATE:ACCOUNT)")


def _lists(document: Document, payload: dict, config: EntryConfig) -> Callable[[str], Mapping]:
    """The lists the entry's building reads, as the configuration and the document say them."""
    party = document.party
    code = payload.get("vendor_id") or payload.get("customer_id") or payload.get("payee_id") or payload.get("party_id")
    parties = {code: ReferenceData("", party.name, True, None)} if party is not None and code else {}
    items = {line["item_id"]: ReferenceData(line["item_id"], line["item_id"] or "", True, None,
                                            raw={"income_account": config.item_account(line["item_id"])})
             for line in payload["lines"] if "item_id" in line}
    taxes = {code: ReferenceData(code, code, True, None,
                                   raw={"rate": str(tax.rate), "account": tax.account})
             for code, tax in config.tax_codes.items()}
    lists = {"vendor": parties, "customer": parties, "item": items, "tax_code": taxes}
    return lambda kind: lists.get(kind, {})


def document_entry(document: Document, config: EntryConfig, attachment_names: Sequence[str] = ()) -> Entry:
    """The entry of any document kind the DAG posts (a bill: the vendor's payable credited, each expense
    line debited; an invoice: the customer's receivable debited, each line credited to its item's
    income account; a bank entry: against its own bank account; ...), as the entry-files connector
    builds it (building.py)."""
    source = document_source(document)
    _document_kind(document, source)
    if document.status == DocumentStatus.VOID:
        raise EntryError(source, "is void; nothing to post")
    payload = document_payload(document, config)
    _check_lists(source, payload, config)
    rules = EntryRules(config.payables_account, config.receivables_account, config.journal,
                       config.currency or document.currency, journal_names=config.journal_names)
    entry = EntryBuilder(rules, _lists(document, payload, config)).entry(document.kind, payload)
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
