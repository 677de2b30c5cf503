"""Xero as an AccountingConnector: hub exports to Xero objects and back.

External ids, as the flows resolve references into payloads:
- vendor / customer: the ContactID (Xero keeps one list of contacts; see `_is_vendor`);
- account: the account Code (lines and payments name accounts by code);
- item: the item Code (lines name items by ItemCode); tax_code: the TaxType;
- class: "<tracking category>/<option>" (lines name tracking by category and option names);
- documents, payments, journals: their Xero ids; an expense report's typed ("BankTransaction:<id>" when paid
  from the bank, "Invoice:<id>" when owed to the payee: `TYPED_KINDS`).

Our idempotency key travels on each object where Xero keeps it, so an uncertain create can be found
again: a contact's ContactNumber, a sales document's or payment's Reference, a manual journal's
Narration, a bank transaction's Reference (after its number: "BQ-1 [LedgerBridge key: ...]"; a sales receipt is
one, a RECEIVE: Xero has no sales receipt object). Xero keeps no Reference on a bill (ACCPAY): a bill is found by its number, supplier and date
(a number-less one is numbered "hub <hub id>").

Invoices, bills and credit notes can be changed after export (UPDATABLE_KINDS): an update replaces the
document's header and lines with the record's current version, and a sales document's Reference with
the update's own key (the version marker: the Reference holds the key of the last operation applied; a
bill's update, whose marker Xero does not keep, is sent again when its outcome is unknown: it replaces
the whole bill, so once or twice is the same); a void sets
Status VOIDED (DELETED for a draft). A document with money applied to it is neither voided nor changed.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledgerbridge.connectors.base import (
    KeepsNoExchangeRates,
    CREATE,
    VOID,
    AttachmentExport,
    BankEntryExport,
    BillExport,
    BillPaymentExport,
    Capabilities,
    ChangeSet,
    Created,
    CreditNoteExport,
    CustomerPaymentExport,
    Export,
    ExpenseReportExport,
    InvoiceExport,
    JournalEntryExport,
    Outgoing,
    PartyExport,
    ReferenceData,
    RemoteDocument,
    SalesLineExport,
    SalesReceiptExport,
    VendorCreditExport,
    is_update,
)
from ledgerbridge.connectors.errors import (
    ConnectorError,
    OutcomeUnknown,
    ReconnectRequired,
    RecordRejected,
    TransientError,
)
from ledgerbridge.connectors.xero.client import (
    BATCH_MAX_ITEMS,
    CALLS_PER_DAY,
    XeroClient,
    XeroValidation,
    field_of,
    parse_date,
)
from ledgerbridge.money import MAX_RATE_PLACES

KEY_PREFIX = "LedgerBridge key:"
CENT = Decimal("0.01")
XERO_RATE = Decimal("0.000001")  # CurrencyRate: six decimal places
LEDGER_RATE = Decimal(1).scaleb(-MAX_RATE_PLACES)  # the ledger's exchange_rate
# How far Xero's clock may be behind ours when looking for what was created after a row was queued.
CLOCK_SKEW = timedelta(minutes=5)

# Our record kind -> (Xero endpoint, the id field of its objects).
OBJECTS = {
    "vendor": ("Contacts", "ContactID"),
    "customer": ("Contacts", "ContactID"),
    "bill": ("Invoices", "InvoiceID"),
    "invoice": ("Invoices", "InvoiceID"),
    "credit_note": ("CreditNotes", "CreditNoteID"),
    "vendor_credit": ("CreditNotes", "CreditNoteID"),  # ACCPAYCREDIT
    "bill_payment": ("Payments", "PaymentID"),
    "customer_payment": ("Payments", "PaymentID"),
    "journal_entry": ("ManualJournals", "ManualJournalID"),
    "bank_entry": ("BankTransactions", "BankTransactionID"),
    "sales_receipt": ("BankTransactions", "BankTransactionID"),  # a RECEIVE: Xero's "Receive money"
    # paid from a bank account: a SPEND BankTransaction; owed to the payee: an ACCPAY Invoice (`endpoint_for`)
    "expense_report": ("Invoices", "InvoiceID"),
    "attachment": ("Attachments", "AttachmentID"),
}
# Record kinds that become one of several Xero objects, as their payload says (`endpoint_for`): their
# external ids are typed, "BankTransaction:<BankTransactionID>" or "Invoice:<InvoiceID>", so that read-backs,
# look-ups and attachments go to the right endpoint without trying each.
TYPED_KINDS = {"expense_report": {"BankTransaction": "BankTransactions", "Invoice": "Invoices"}}
# Our reference kind -> (endpoint, id field, paged). Lists are archived in Xero; documents, payments
# and journals are deleted or voided (Status DELETED / VOIDED) and still listed with that status.
REFERENCE = {
    "account": ("Accounts", "Code", False),
    "vendor": ("Contacts", "ContactID", True),
    "customer": ("Contacts", "ContactID", True),
    "class": ("TrackingCategories", None, False),
    "tax_code": ("TaxRates", "TaxType", False),
    "item": ("Items", "Code", False),
    "currency": ("Currencies", "Code", False),
    "bill": ("Invoices", "InvoiceID", True),
    "invoice": ("Invoices", "InvoiceID", True),
    "credit_note": ("CreditNotes", "CreditNoteID", True),
    "vendor_credit": ("CreditNotes", "CreditNoteID", True),
    "payment": ("Payments", "PaymentID", True),
    "journal_entry": ("ManualJournals", "ManualJournalID", True),
}
DELETABLE_KINDS = frozenset({"bill", "invoice", "credit_note", "vendor_credit", "payment", "journal_entry"})
_TYPES = {"bill": ("ACCPAY",), "invoice": ("ACCREC",), "credit_note": ("ACCRECCREDIT",),
          "vendor_credit": ("ACCPAYCREDIT",)}
_DOCUMENT_ENDPOINTS = {"bill": "Invoices", "invoice": "Invoices", "credit_note": "CreditNotes",
                       "vendor_credit": "CreditNotes",
                       "journal_entry": "ManualJournals", "bank_entry": "BankTransactions",
                       "sales_receipt": "BankTransactions"}
# A voided document stays listed with its amounts but counts for nothing: to the ledger it is gone, as a deleted one.
_GONE = ("DELETED", "VOIDED")
# Record kinds whose exported documents can be updated and voided (POST with their id).
UPDATABLE_KINDS = frozenset({"bill", "invoice", "credit_note"})


class XeroConnector(KeepsNoExchangeRates):
    kind = "xero"
    capabilities = Capabilities(
        kinds=frozenset(OBJECTS), reference_kinds=tuple(REFERENCE), batch_size=BATCH_MAX_ITEMS,
        updatable_kinds=UPDATABLE_KINDS, deletable_kinds=DELETABLE_KINDS, change_capture=True,
        doc_number_limit=255, name_limit=255, own_exchange_rates=True,  # Xero's daily XE rate when none is sent
        typed_ids={"Invoice": "bill"},  # an expense report owed to its payee is an ACCPAY invoice, mirrored as a bill
        payment_account_types={"bill_payment": frozenset({"BANK"}), "customer_payment": frozenset({"BANK"})})

    def __init__(self, client: XeroClient):
        self.client = client
        self.company_id = client.tenant_id

    # -- reference data in ----------------------------------------------------------------------

    def fetch_reference(self, kind: str, since: datetime | None) -> Iterator[ReferenceData]:
        """Every object of `kind` changed since `since` (If-Modified-Since), deleted and voided ones
        included then; without `since`, every object the organisation still has (those left out)."""
        for ref in self._read(kind, since):
            if since is not None or not ref.deleted:
                yield ref

    def fetch_changes(self, starts: dict[str, datetime], now: datetime) -> ChangeSet:
        """If-Modified-Since answers every change of every kind, deletions included (Xero lists a
        deleted or voided document with Status DELETED / VOIDED): one read per kind from its own start."""
        self.client.get("Organisation")  # Xero's clock before the first read: the next pull starts there
        as_of = self.client.server_time
        changes = {kind: list(self._read(kind, since)) for kind, since in starts.items() if kind in REFERENCE}
        return ChangeSet(changes, as_of)

    def existing_ids(self, kind: str, external_ids: list[str]) -> set[str]:
        wanted = set(external_ids)
        return {ref.external_id for ref in self._read(kind, None) if ref.external_id in wanted and not ref.deleted}

    def _read(self, kind: str, since: datetime | None) -> Iterator[ReferenceData]:
        endpoint, _, paged = REFERENCE[kind]
        for obj in self.client.list_all(endpoint, since, paged=paged):
            if kind == "class":
                yield from _tracking_options(obj)
            elif kind in ("vendor", "customer") and not _is_party(obj, kind):
                continue
            elif kind in _TYPES and obj.get("Type") not in _TYPES[kind]:
                continue
            else:
                yield _reference(kind, obj)

    def server_time(self) -> datetime | None:
        return self.client.server_time

    def warns_on_duplicate_bill_numbers(self) -> bool:
        """Xero takes a supplier's bill number twice without a word: the flows must hold the second."""
        return True

    def api_calls_left_today(self) -> tuple[int, int] | None:
        left = self.client.day_remaining
        return None if left is None else (left, CALLS_PER_DAY)

    def acknowledge(self) -> int:
        return 0

    def inbound_files(self) -> set[str]:
        return set()

    # -- documents out --------------------------------------------------------------------------

    def payload(self, kind: str, record: Export, key: str) -> dict[str, Any]:
        build = _BUILDERS.get(kind)
        if build is None:
            raise TypeError(f"the Xero connector cannot export a record of kind {kind!r}")
        body = build(record, key)
        if getattr(record, "exchange_rate", None) is not None and "Payments" not in body:
            # The source's; without it Xero applies its daily rate for the document's date. (A payment's goes on
            # each Payment it becomes: `_payments`.)
            body["CurrencyRate"] = xero_currency_rate(record.exchange_rate)
        return body

    def create_many(self, items: list[Outgoing], batch_key: str) -> dict[str, Created | Exception]:
        """Create, update or void each item once: per item ref, Created, its RecordRejected or
        OutcomeUnknown. Creates go first (`_create_many`), then changes (`_change_many`); when one
        part fails as a whole after the other was sent, that part's items carry the error."""
        creates = [item for item in items if item.operation == CREATE]
        changes = [item for item in items if item.operation != CREATE]
        outcomes: dict[str, Created | Exception] = {}
        for part, send in ((creates, self._create_many), (changes, self._change_many)):
            if not part:
                continue
            try:
                outcomes.update(send(part, batch_key))
            except ConnectorError as exc:
                if len(part) == len(items):
                    raise
                outcomes.update({item.ref: exc for item in part})
        return {item.ref: outcomes[item.ref] for item in items}

    def _create_many(self, creates: list[Outgoing], batch_key: str) -> dict[str, Created | Exception]:
        """Create each item once.

        First a look-up of what an earlier attempt may already have created (our key on the object),
        for the items that may have been sent before (`attempts` not 0): those are adopted and not
        sent again, whichever batch they were in then. Items never sent (the outbox says 0 attempts:
        every row of a first export) are not looked up: the look-up lists every invoice changed since
        the items were queued, and doing it for every batch cost more calls than the creates. The rest
        go in one PUT per endpoint with summarizeErrors=false (each element answered on its own) and
        an Idempotency-Key made of the batch key and the keys of the items sent, so a retry of the
        same request replays Xero's first answer and a regrouped one never collides with it.
        """
        maybe_sent = [item for item in creates if item.attempts != 0]
        # raises (nothing applied) when it cannot read
        outcomes: dict[str, Created | Exception] = dict(self.find_existing_many(maybe_sent)) if maybe_sent else {}
        groups: dict[str, list[Outgoing]] = {}
        for item in creates:
            if item.ref in outcomes:
                continue
            missing = _missing_contact(item) or _missing_deposit_account(item)
            if missing is not None:
                outcomes[item.ref] = missing
                continue
            groups.setdefault(endpoint_for(item.kind, item.payload), []).append(item)
        ordered = list(groups.items())
        for n, (endpoint, group) in enumerate(ordered):
            try:
                if endpoint == "Attachments":
                    outcomes.update(self._attach_many(group))
                else:
                    outcomes.update(self._put_group(endpoint, group, batch_key))
            except (TransientError, ReconnectRequired) as exc:
                if n == 0:
                    raise  # nothing of the batch was applied
                # An earlier group was applied; nothing of this one was: it and the rest wait, pending.
                outcomes.update({item.ref: exc for _, rest in ordered[n:] for item in rest})
                break
            except ConnectorError as exc:
                if n == 0 and len(ordered) == 1:
                    raise
                for item in group:  # an earlier group was applied: report this one's fate per item
                    outcomes[item.ref] = exc if isinstance(exc, (OutcomeUnknown, RecordRejected)) else \
                        OutcomeUnknown(f"not known whether {item.kind} {item.ref} was created: {exc}")
        return outcomes

    def _put_group(self, endpoint: str, group: list[Outgoing], batch_key: str) -> dict[str, Created | Exception]:
        elements, owners = [], []
        for item in group:
            for element in _elements(item):
                elements.append(element)
                owners.append(item)
        key = _request_key(batch_key, endpoint, [item.key for item in group])
        try:
            answers = self.client.put_many(endpoint, elements, key)
        except XeroValidation as refusal:
            # The request as a whole was refused, nothing applied: one bad element must not hold back
            # the rest, so each item goes alone.
            if len(group) == 1:
                return {group[0].ref: refusal}
            outcomes: dict[str, Created | Exception] = {}
            for item in group:
                outcomes.update(self._put_group(endpoint, [item], batch_key))
            return outcomes
        id_field = _id_field(endpoint)
        per_item: dict[str, list[dict[str, Any] | None]] = {}
        for n, item in enumerate(owners):
            per_item.setdefault(item.ref, []).append(answers[n] if n < len(answers) else None)
        outcomes = {}
        for item in group:
            replies = per_item.get(item.ref, [None])
            missing = [reply for reply in replies if reply is None]
            errors = [reply for reply in replies if reply is not None and reply.get("StatusAttributeString") == "ERROR"]
            done = [reply for reply in replies if reply is not None and reply.get("StatusAttributeString") != "ERROR"
                    and reply.get(id_field)]
            if errors and not done:
                outcomes[item.ref] = _rejection(item, errors[0])
            elif errors and not missing and item.kind in ("bill_payment", "customer_payment"):
                outcomes[item.ref] = _applied_in_part(item, done, errors)
            elif missing or errors or not done:
                outcomes[item.ref] = OutcomeUnknown(
                    f"{endpoint} request {key}: {item.kind} {item.ref} answered only in part "
                    f"({len(done)} applied, {len(errors)} refused, {len(missing)} unanswered)")
            else:
                outcomes[item.ref] = Created(typed_id(item.kind, endpoint, str(done[0][id_field])))
        return outcomes

    def _attach_many(self, group: list[Outgoing]) -> dict[str, Created | Exception]:
        outcomes: dict[str, Created | Exception] = {}
        for item in group:
            payload = item.payload
            try:
                answer = self.client.attach(payload["Endpoint"], payload["DocumentID"], payload["FileName"],
                                            item.content or b"", payload.get("MimeType", ""), item.key)
            except RecordRejected as refusal:
                outcomes[item.ref] = refusal
                continue
            except TransientError as exc:  # refused before anything was applied: this one and the rest wait
                if not outcomes:
                    raise
                outcomes.update({waiting.ref: exc for waiting in group if waiting.ref not in outcomes})
                break
            except ConnectorError as exc:
                if not outcomes:
                    raise
                outcomes[item.ref] = OutcomeUnknown(f"attachment {item.ref}: {exc}")
                continue
            outcomes[item.ref] = Created(str(answer.get("AttachmentID") or ""))
        return outcomes

    def _change_many(self, changes: list[Outgoing], batch_key: str) -> dict[str, Created | Exception]:
        """Update or void each item once, against its document as read now (one GET each).

        An update already applied (its key is the document's Reference) or a void of a document voided
        or deleted already is adopted without a request: that is how an update or void whose answer was
        lost is found and not applied twice. A void of a document with money applied to it, or any
        change of a voided one, is rejected naming the document. The rest go in one POST per endpoint
        (summarizeErrors=false, an Idempotency-Key made of the batch key and the items' keys); what
        Xero refuses there comes back as a rejection naming the document and Xero's reason.
        """
        outcomes: dict[str, Created | Exception] = {}
        ready = []
        for item in changes:
            refused = _unchangeable(item)
            if refused is None:
                ready.append(item)
            else:
                outcomes[item.ref] = refused
        targets = {(item.kind, item.target_id): None for item in ready}
        for kind, target_id in targets:  # raises (nothing applied) when it cannot read
            targets[(kind, target_id)] = self.client.read(OBJECTS[kind][0], str(target_id))
        groups: dict[str, list[tuple[Outgoing, dict[str, Any], dict[str, Any]]]] = {}
        for item in ready:
            target = targets[(item.kind, item.target_id)]
            verdict = _change_element(item, target)
            if isinstance(verdict, dict):
                groups.setdefault(OBJECTS[item.kind][0], []).append((item, verdict, target))
            else:
                outcomes[item.ref] = verdict
        for endpoint, group in groups.items():
            try:
                outcomes.update(self._post_changes(endpoint, group, batch_key))
            except ConnectorError as exc:
                if len(group) == len(changes):
                    raise
                outcomes.update({item.ref: exc for item, _, _ in group})
        return outcomes

    def _post_changes(self, endpoint: str, group: list[tuple[Outgoing, dict[str, Any], dict[str, Any]]],
                      batch_key: str) -> dict[str, Created | Exception]:
        key = _request_key(batch_key, f"POST {endpoint}", [item.key for item, _, _ in group])
        try:
            answers = self.client.post_many(endpoint, [element for _, element, _ in group], key)
        except XeroValidation as refusal:  # refused as a whole, nothing applied: each goes alone
            if len(group) == 1:
                item, _, target = group[0]
                return {item.ref: _change_refused(item, target, [str(refusal)], refusal.element)}
            outcomes: dict[str, Created | Exception] = {}
            for entry in group:
                outcomes.update(self._post_changes(endpoint, [entry], batch_key))
            return outcomes
        outcomes = {}
        for n, (item, _, target) in enumerate(group):
            answer = answers[n] if n < len(answers) else None
            if answer is None:
                outcomes[item.ref] = OutcomeUnknown(f"{endpoint} request {key}: {_doing(item)} "
                                                    f"{_document_name(item, target)}: no answer for it")
            elif answer.get("StatusAttributeString") == "ERROR":
                messages = [error.get("Message", "") for error in answer.get("ValidationErrors") or []]
                outcomes[item.ref] = _change_refused(item, target, messages, field_of(messages))
            else:
                outcomes[item.ref] = Created(str(item.target_id))
        return outcomes

    def find_existing_many(self, items: list[Outgoing]) -> dict[str, Created | Exception]:
        """Items an earlier attempt created: found by our key on the objects changed since the item
        was queued (a little before: clocks differ); an attachment by its file name on its document."""
        found: dict[str, Created | Exception] = {}
        by_endpoint: dict[str, list[Outgoing]] = {}
        for item in items:
            if item.operation == CREATE and item.kind in OBJECTS:
                by_endpoint.setdefault(endpoint_for(item.kind, item.payload), []).append(item)
        for endpoint, group in by_endpoint.items():
            if endpoint == "Attachments":
                for item in group:
                    names = {a.get("FileName"): a for a in
                             self.client.attachments(item.payload["Endpoint"], item.payload["DocumentID"])}
                    if item.payload["FileName"] in names:
                        found[item.ref] = Created(str(names[item.payload["FileName"]]["AttachmentID"]), adopted=True)
                continue
            queued = [item.queued_at for item in group]
            since = None if any(q is None for q in queued) else min(queued) - CLOCK_SKEW  # type: ignore[type-var]
            wanted = {_wanted_key(item): item for item in group}
            id_field = _id_field(endpoint)
            payments: dict[str, list[dict[str, Any]]] = {}
            for obj in self.client.list_all(endpoint, since):
                key = _key_of(endpoint, obj)
                if key not in wanted or wanted[key].ref in found:
                    continue
                if endpoint == "Payments":  # one Payment per document paid: all of them, or it is not done
                    if str(obj.get("Status")) not in _GONE:
                        payments.setdefault(key, []).append(obj)
                    continue
                found[wanted[key].ref] = Created(typed_id(wanted[key].kind, endpoint, str(obj[id_field])),
                                                 adopted=True)
            for key, made in payments.items():
                found[wanted[key].ref] = _payment_found(wanted[key], made)
            if len(found) == len(items):
                break
        return found

    def fetch_documents(self, kind: str, external_ids: list[str]) -> dict[str, RemoteDocument]:
        """Totals and balances of exported documents, by the external ids we hold (a typed one read from the
        endpoint it names)."""
        if kind in TYPED_KINDS:
            by_endpoint: dict[str, dict[str, str]] = {}
            for external_id in external_ids:
                endpoint, object_id = split_external_id(kind, external_id)
                by_endpoint.setdefault(endpoint, {})[object_id] = external_id
            found: dict[str, RemoteDocument] = {}
            for endpoint, ids in by_endpoint.items():
                for object_id, document in self._read_documents(endpoint, list(ids)).items():
                    found[ids[object_id]] = replace(document, external_id=ids[object_id])
            return found
        endpoint = {"bill": "Invoices", "invoice": "Invoices", "credit_note": "CreditNotes",
                    "vendor_credit": "CreditNotes",
                    "journal_entry": "ManualJournals", "bill_payment": "Payments",
                    "customer_payment": "Payments", "bank_entry": "BankTransactions",
                    "sales_receipt": "BankTransactions"}.get(kind)
        if endpoint is None:
            return {}
        return self._read_documents(endpoint, external_ids)

    def _read_documents(self, endpoint: str, external_ids: list[str]) -> dict[str, RemoteDocument]:
        if endpoint == "Invoices":  # GET Invoices?IDs=...: 40 a call
            objects = ((str(obj.get("InvoiceID")), obj) for obj in self.client.read_many(endpoint, external_ids))
        else:  # the others take no IDs filter: one call each
            objects = ((external_id, self.client.read(endpoint, external_id)) for external_id in external_ids)
        wanted = set(external_ids)
        found: dict[str, RemoteDocument] = {}
        for external_id, obj in objects:
            if obj is None or external_id not in wanted:
                continue
            tax = _money(obj.get("TotalTax"))
            if endpoint == "BankTransactions":  # money that moved: nothing left to pay
                total, balance = _money(obj.get("Total")), Decimal(0)
            elif endpoint == "Invoices":
                total, balance = _money(obj.get("Total")), _money(obj.get("AmountDue"))
            elif endpoint == "CreditNotes":
                total, balance = _money(obj.get("Total")), _money(obj.get("RemainingCredit", obj.get("Total")))
            elif endpoint == "Payments":
                total, balance = _money(obj.get("Amount")), Decimal(0)
            else:
                total = sum((_money(line.get("LineAmount")) for line in obj.get("JournalLines") or []
                             if _money(line.get("LineAmount")) > 0), Decimal(0))
                balance = Decimal(0)
            rate, home_total = _booked_rate(obj.get("CurrencyRate"), total)
            found[external_id] = RemoteDocument(external_id, total, balance, str(obj.get("Status")) in _GONE,
                                                 tax if obj.get("LineAmountTypes") == "Exclusive" else Decimal(0),
                                                 rate, home_total)
        return found


# -- reading ----------------------------------------------------------------------------------------

def _is_party(contact: dict[str, Any], kind: str) -> bool:
    """Xero derives IsSupplier / IsCustomer from transactions: a contact is a vendor unless it is only
    a customer, and a customer unless it is only a supplier (a new contact with no documents is both)."""
    supplier, customer = bool(contact.get("IsSupplier")), bool(contact.get("IsCustomer"))
    return (supplier or not customer) if kind == "vendor" else (customer or not supplier)


def _tracking_options(category: dict[str, Any]) -> Iterator[ReferenceData]:
    updated = parse_date(category.get("UpdatedDateUTC"))
    category_active = category.get("Status", "ACTIVE") == "ACTIVE"
    for option in category.get("Options") or []:
        yield ReferenceData(
            external_id=f"{category['Name']}/{option['Name']}", name=f"{category['Name']}: {option['Name']}",
            active=category_active and option.get("Status", "ACTIVE") == "ACTIVE", updated_at=updated,
            raw={"TrackingCategoryID": category.get("TrackingCategoryID"), **option})


def _reference(kind: str, obj: dict[str, Any]) -> ReferenceData:
    _, id_field, _ = REFERENCE[kind]
    status = str(obj.get("Status") or obj.get("ContactStatus") or "ACTIVE").upper()
    deleted = kind in DELETABLE_KINDS and status in _GONE
    contact = obj.get("Contact") or {}
    name = obj.get("Name") or obj.get("Description") or obj.get("InvoiceNumber") or obj.get("CreditNoteNumber") or obj.get("Narration") \
        or obj.get("Reference")
    address = next(iter(obj.get("Addresses") or []), {}) or {}
    return ReferenceData(
        external_id=str(obj[id_field]),
        name=name,
        active=not deleted and status not in ("ARCHIVED", "VOIDED", "DELETED"),
        updated_at=parse_date(obj.get("UpdatedDateUTC")),
        deleted=deleted,
        party_external_id=contact.get("ContactID"),
        number=obj.get("Code") or obj.get("TaxType") or obj.get("InvoiceNumber") or obj.get("CreditNoteNumber")
        or obj.get("AccountNumber"),
        account_type=obj.get("Type") if kind == "account" else None,
        email=obj.get("EmailAddress"),
        tax_id=obj.get("TaxNumber"),
        city=address.get("City"),
        postcode=address.get("PostalCode"),
        currency=obj.get("CurrencyCode") or obj.get("DefaultCurrency"),
        # a contact's own account number is its code in the sales and purchases ledgers: its auxiliary account
        auxiliary_account=obj.get("AccountNumber") if kind in ("vendor", "customer") else None,
        raw=_with_rate(obj) if kind == "tax_code" else obj,
    )


def _with_rate(tax_rate: dict[str, Any]) -> dict[str, Any]:
    """A TaxRate as the mirror keeps it: its EffectiveRate (the whole rate, compound components included)
    as the percent string "rate" the documents suite checks a line's tax against."""
    rate = tax_rate.get("EffectiveRate")
    return {**tax_rate, "rate": str(rate)} if rate is not None else tax_rate


def _key_of(endpoint: str, obj: dict[str, Any]) -> str | None:
    """What says an object in Xero is the one an item created (`_wanted_key` of the item)."""
    if endpoint == "Contacts":
        return obj.get("ContactNumber")
    if endpoint == "ManualJournals":
        narration = str(obj.get("Narration") or "")
        return narration.rsplit(KEY_PREFIX, 1)[1].strip(" ]") if KEY_PREFIX in narration else None
    if endpoint == "BankTransactions":
        reference = str(obj.get("Reference") or "")
        if str(obj.get("Status")) in _GONE or KEY_PREFIX not in reference:
            return None
        return reference.rsplit(KEY_PREFIX, 1)[1].strip(" ]")
    if obj.get("Type") in _PAYABLE_TYPES:
        if str(obj.get("Status")) in _GONE:
            return None
        day = parse_date(obj.get("Date"))
        lines = obj.get("SubTotal") if obj.get("LineAmountTypes") == "Exclusive" else obj.get("Total")
        return _bill_identity(obj.get("InvoiceNumber") or obj.get("CreditNoteNumber"),
                              (obj.get("Contact") or {}).get("ContactID"),
                              day.date().isoformat() if day else None, obj.get("CurrencyCode"), _money(lines))
    return obj.get("Reference")


# Xero keeps no Reference on a supplier's document: it is found again by its identity (`_bill_identity`).
_PAYABLE_TYPES = ("ACCPAY", "ACCPAYCREDIT")


def _wanted_key(item: Outgoing) -> str:
    if item.payload.get("Type") in _PAYABLE_TYPES:  # a bill, an expense report owed to its payee, a vendor credit
        payload = item.payload
        lines = sum((_money(line.get("LineAmount")) for line in payload.get("LineItems") or []), Decimal(0))
        return _bill_identity(payload.get("InvoiceNumber") or payload.get("CreditNoteNumber"), payload["Contact"]["ContactID"], payload["Date"],
                              payload.get("CurrencyCode"), lines)
    return item.key


def _bill_identity(number: str | None, contact_id: str | None, day: str | None, currency: str | None,
                   lines: Decimal) -> str:
    """A bill's identity where Xero keeps no Reference (ACCPAY): its number, supplier, date, currency and
    the sum of its lines (Xero's SubTotal when the tax is on top, else its Total), so a bill a person
    keyed with the same number is not taken for ours. The flows hold a second bill of one supplier and
    number; a number-less bill is numbered by its hub id."""
    return f"bill\x1f{number}\x1f{contact_id}\x1f{day}\x1f{currency}\x1f{_money(lines).quantize(CENT)}"


def _payment_found(item: Outgoing, made: list[dict[str, Any]]) -> Created | RecordRejected:
    """An earlier attempt's Payments (one per document paid): the item is done when every application
    is there; one that is there only in part is no payment to adopt, nor one to send again whole."""
    wanted = {(str(p["Invoice"]["InvoiceID"]), _money(p["Amount"])) for p in item.payload["Payments"]}
    there = {(str((p.get("Invoice") or {}).get("InvoiceID")), _money(p.get("Amount"))) for p in made}
    if wanted <= there:
        return Created(str(made[0]["PaymentID"]), adopted=True)
    return _applied_in_part(item, made, [f"{amount} to invoice {invoice}" for invoice, amount in sorted(wanted - there)])


def _applied_in_part(item: Outgoing, done: list[dict[str, Any]], left: list[Any]) -> RecordRejected:
    """A payment over several documents of which Xero holds some applications and not the others."""
    applied = ", ".join(f"{_money(p.get('Amount'))} to invoice {(p.get('Invoice') or {}).get('InvoiceID')} "
                        f"(Payment {p.get('PaymentID')})" for p in done)
    missing = "; ".join(
        str(entry) if not isinstance(entry, dict) else
        f"{_money(entry.get('Amount'))} to invoice {(entry.get('Invoice') or {}).get('InvoiceID')}: "
        + "; ".join(e.get("Message", "") for e in entry.get("ValidationErrors") or []) for entry in left)
    return RecordRejected(f"{item.kind} {item.ref} is in Xero only in part: applied {applied}; not applied {missing}. "
                          "Finish it in Xero (or delete those Payments there), then release or dismiss it",
                          "PartlyApplied", "Payments")


def endpoint_for(kind: str, payload: dict[str, Any] | None = None) -> str:
    """The Xero endpoint a record of `kind` goes to: its payload decides for a kind that becomes one of several
    (an expense report: paid from a bank account, a BankTransaction; owed to the payee, an ACCPAY Invoice)."""
    if kind in TYPED_KINDS and payload is not None and "BankAccount" in payload:
        return "BankTransactions"
    return OBJECTS[kind][0]


def typed_id(kind: str, endpoint: str, object_id: str) -> str:
    """The external id we keep: Xero's id, with its object type where the kind becomes one of several."""
    if kind not in TYPED_KINDS:
        return object_id
    prefix = next(name for name, where in TYPED_KINDS[kind].items() if where == endpoint)
    return f"{prefix}:{object_id}"


def split_external_id(kind: str, external_id: str) -> tuple[str, str]:
    """(Xero endpoint, its id) of an external id we keep (`typed_id`)."""
    if kind in TYPED_KINDS:
        prefix, _, object_id = str(external_id).partition(":")
        if prefix in TYPED_KINDS[kind] and object_id:
            return TYPED_KINDS[kind][prefix], object_id
        raise ValueError(f"{kind} external id {external_id!r} names no Xero object: expected one of "
                         f"{', '.join(f'{p}:<id>' for p in TYPED_KINDS[kind])}")
    return OBJECTS[kind][0], str(external_id)


def _missing_contact(item: Outgoing) -> RecordRejected | None:
    """Xero takes no bank transaction without a Contact: a bank entry naming no vendor or customer is refused
    here, without a call, naming the field (docs/connector-xero.md, "Bank entries")."""
    if item.kind != "bank_entry" or item.payload.get("Contact"):
        return None
    return RecordRejected("this bank entry names no vendor or customer, and Xero "
                          "requires a Contact on every bank transaction (BankTransaction.Contact): name the entry's "
                          "vendor or customer in the hub", "ContactRequired", "Contact")


def _missing_deposit_account(item: Outgoing) -> RecordRejected | None:
    """Xero has no sales receipt: a cash sale is money received into a bank account (a RECEIVE bank transaction),
    so a receipt naming no deposit account is refused here, without a call, naming the feed's field: no default
    account is guessed, money booked to the wrong bank would not reconcile (docs/connector-xero.md, "Sales
    receipts")."""
    if item.kind != "sales_receipt" or item.payload.get("BankAccount"):
        return None
    return RecordRejected("this sales receipt names no deposit_account, and Xero books a cash sale as money "
                          "received into a bank account (BankTransaction.BankAccount, of Type BANK): name the "
                          "receipt's deposit_account in the hub feed, then release it", "DepositAccountRequired",
                          "deposit_account")


def _id_field(endpoint: str) -> str:
    return next(id_field for name, id_field in OBJECTS.values() if name == endpoint)


def _request_key(batch_key: str, endpoint: str, keys: list[str]) -> str:
    """The Idempotency-Key of one request: the batch's key, the endpoint and exactly the items sent."""
    digest = hashlib.sha256("\n".join([endpoint, *sorted(keys)]).encode()).hexdigest()[:24]
    return f"{batch_key[:90]}-{digest}"


def _elements(item: Outgoing) -> list[dict[str, Any]]:
    """The Xero elements of an item: one, except a payment applied to several documents (one Xero
    Payment per document, each carrying the item's key)."""
    return list(item.payload["Payments"]) if item.kind in ("bill_payment", "customer_payment") else [item.payload]


def _rejection(item: Outgoing, answer: dict[str, Any]) -> RecordRejected:
    messages = [error.get("Message", "") for error in answer.get("ValidationErrors") or []]
    return RecordRejected(f"Xero refused {item.kind} {item.ref}: {'; '.join(messages) or 'no reason given'}",
                          "ValidationException", field_of(messages))


def _unchangeable(item: Outgoing) -> RecordRejected | None:
    """Why this update/void cannot be sent at all, if it cannot."""
    if item.operation != VOID and not is_update(item.operation):
        return RecordRejected(f"unknown outbox operation {item.operation!r} for {item.kind} {item.ref}",
                              element="operation")
    if item.kind not in UPDATABLE_KINDS:
        return RecordRejected(f"the Xero connector cannot {'void' if item.operation == VOID else 'update'} a "
                              f"{item.kind}; it changes only {', '.join(sorted(UPDATABLE_KINDS))}", element="operation")
    if not item.target_id:
        return RecordRejected(f"{_doing(item)} {item.kind} {item.ref}: the outbox row names no Xero id to apply it to",
                              element=OBJECTS[item.kind][1])
    return None


def _change_element(item: Outgoing, target: dict[str, Any] | None) -> dict[str, Any] | Created | RecordRejected:
    """The element updating or voiding `target` as it is now, or the outcome without a request."""
    endpoint, id_field = OBJECTS[item.kind]
    name = _document_name(item, target)
    if target is None:
        return RecordRejected(f"{_doing(item)} {name}: Xero has no such document (deleted there?)",
                              "NotFound", id_field)
    status = str(target.get("Status") or "")
    if item.operation == VOID:
        if status in _GONE:
            return Created(str(item.target_id), adopted=True)  # voided or deleted already: what we wanted
        applied = _applied(target)
        if applied:
            return RecordRejected(f"voiding {name}: {applied} {target.get('CurrencyCode', '')} is paid or credited "
                                  f"against it in Xero ({_applications(target)}); Xero voids only a document with "
                                  "nothing applied: remove those there first: not voided", "ValidationException",
                                  "Status")
        return {id_field: str(item.target_id), "Status": "DELETED" if status in ("DRAFT", "SUBMITTED") else "VOIDED"}
    if target.get("Reference") == item.key:
        return Created(str(item.target_id), adopted=True)  # this update was applied already
    if status in _GONE:
        return RecordRejected(f"updating {name}: it is {status.lower()} in Xero and cannot change any more: "
                              "not updated", "ValidationException", "Status")
    # The document keeps its status (AUTHORISED, or a draft someone kept): only its content changes.
    return {**{key: value for key, value in item.payload.items() if key != "Status"}, id_field: str(item.target_id)}


def _change_refused(item: Outgoing, target: dict[str, Any] | None, messages: list[str],
                    element: str | None) -> RecordRejected:
    reason = "; ".join(message for message in messages if message) or "no reason given"
    return RecordRejected(f"{_doing(item)} {_document_name(item, target)}: Xero refused it: {reason}: not "
                          f"{'voided' if item.operation == VOID else 'updated'}", "ValidationException", element)


def _doing(item: Outgoing) -> str:
    return "voiding" if item.operation == VOID else "updating"


def _document_name(item: Outgoing, target: dict[str, Any] | None) -> str:
    """"bill B-1 (Xero InvoiceID ...)": what a person finds the document by in Xero."""
    number = (target or {}).get("InvoiceNumber") or (target or {}).get("CreditNoteNumber")
    label = item.kind.replace("_", " ")
    return f"{label} {number} (Xero {OBJECTS[item.kind][1]} {item.target_id})" if number else \
        f"{label} {item.target_id}"


def _applied(document: dict[str, Any]) -> Decimal:
    """Money applied to a document: an invoice's payments and credit, or a credit note's allocated credit."""
    if "RemainingCredit" in document:
        return _money(document.get("Total")) - _money(document.get("RemainingCredit"))
    return _money(document.get("AmountPaid")) + _money(document.get("AmountCredited"))


def _applications(document: dict[str, Any]) -> str:
    payments = [f"payment {p.get('PaymentID')} of {_money(p.get('Amount'))}" for p in document.get("Payments") or []]
    allocations = [f"allocation of {_money(a.get('Amount'))}" for a in document.get("Allocations") or []]
    return ", ".join(payments + allocations) or f"Status {document.get('Status')}"


def xero_currency_rate(exchange_rate: Decimal) -> Decimal:
    """Xero's `CurrencyRate` for our rate: Xero quotes units of the document's currency per 1 of the
    organisation's base currency (base amount = total / CurrencyRate), the inverse of ours (home currency
    per 1 of the document's), to six decimal places (docs/connector-xero.md, "Currencies")."""
    return (1 / exchange_rate).quantize(XERO_RATE, rounding=ROUND_HALF_UP)


def _booked_rate(currency_rate: Any, total: Decimal) -> tuple[Decimal | None, Decimal | None]:
    """Our rate and the home total from the `CurrencyRate` Xero booked a document at (None when it says none)."""
    rate = _money(currency_rate) if currency_rate is not None else None
    if rate is None or rate <= 0:
        return None, None
    return ((1 / rate).quantize(LEDGER_RATE, rounding=ROUND_HALF_UP),
            (total / rate).quantize(CENT, rounding=ROUND_HALF_UP))


def _money(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


# -- payloads ---------------------------------------------------------------------------------------

def _party(party: PartyExport, key: str) -> dict[str, Any]:
    body: dict[str, Any] = {"Name": party.name, "ContactNumber": key[:50]}
    if party.email:
        body["EmailAddress"] = party.email
    if party.currency:
        body["DefaultCurrency"] = party.currency
    return body


def _tracking(class_id: str | None) -> list[dict[str, str]]:
    if not class_id:
        return []
    category, _, option = class_id.partition("/")
    return [{"Name": category, "Option": option}]


def _line(amount: Decimal, description: str | None, **fields: Any) -> dict[str, Any]:
    line = {"Description": description or "", "Quantity": Decimal(1), "UnitAmount": amount, "LineAmount": amount}
    line.update({name: value for name, value in fields.items() if value not in (None, [])})
    return line


def _document(head: dict[str, Any], doc_date, due_date, currency: str, lines: list[dict[str, Any]],
              key: str | None, amount_types: str = "NoTax") -> dict[str, Any]:
    body = {**head, "Date": doc_date.isoformat(), "CurrencyCode": currency, "LineAmountTypes": amount_types,
            "LineItems": lines, "Status": "AUTHORISED"}
    if key is not None:
        body["Reference"] = key
    if due_date:
        body["DueDate"] = due_date.isoformat()
    return body


def _amount_types(tax_code_ids: list[str | None], amounts_include_tax: bool) -> str:
    """LineAmountTypes: no tax code on any line, no tax; else the tax inside the amounts or on top."""
    if not any(tax_code_ids):
        return "NoTax"
    return "Inclusive" if amounts_include_tax else "Exclusive"


def _account_lines(lines) -> list[dict[str, Any]]:
    """Lines by account (bills, supplier credits, bank transactions): the tax type, the source's tax where the
    line has a code, the tracking option of its class."""
    return [_line(line.amount, line.description, AccountCode=line.account_id, TaxType=line.tax_code_id,
                  TaxAmount=line.tax_amount if line.tax_code_id else None, Tracking=_tracking(line.class_id))
            for line in lines]


def _bill(bill: BillExport, key: str) -> dict[str, Any]:
    lines = _account_lines(bill.lines)
    # Xero keeps no Reference on a bill: it is found again by number, supplier and date (`_bill_identity`).
    head = {"Type": "ACCPAY", "Contact": {"ContactID": bill.vendor_id},
            "InvoiceNumber": bill.doc_number or f"hub {bill.hub_id}"}
    return _document(head, bill.doc_date, bill.due_date, bill.currency, lines, None,
                     _amount_types([line.tax_code_id for line in bill.lines], bill.amounts_include_tax))


def _sales_lines(lines: tuple[SalesLineExport, ...], amounts_include_tax: bool) -> tuple[list[dict[str, Any]], str]:
    built = []
    for line in lines:
        quantity, unit = _quantity_and_unit(line)
        built.append({"Description": line.description or "", "ItemCode": line.item_id, "Quantity": quantity,
                      "UnitAmount": unit, "LineAmount": line.amount,
                      **({"TaxType": line.tax_code_id} if line.tax_code_id else {}),
                      # the source's checked tax: Xero books it instead of the one it works out
                      **({"TaxAmount": line.tax_amount} if line.tax_code_id and line.tax_amount is not None else {}),
                      **({"Tracking": _tracking(line.class_id)} if line.class_id else {})})
    return built, _amount_types([line.tax_code_id for line in lines], amounts_include_tax)


def _quantity_and_unit(line: SalesLineExport) -> tuple[Decimal, Decimal]:
    """Xero works a line's amount out as quantity x unit amount (unit amounts to the cent): a line given
    by amount and quantity alone goes as that quantity only when the unit amount it implies is exact."""
    quantity = line.quantity if line.quantity is not None else Decimal(1)
    if line.unit_price is not None:
        return quantity, line.unit_price
    if quantity:
        unit = line.amount / quantity
        if unit == unit.quantize(CENT) and unit * quantity == line.amount:
            return quantity, unit.quantize(CENT)
    return Decimal(1), line.amount


def _invoice(invoice: InvoiceExport, key: str) -> dict[str, Any]:
    lines, amount_types = _sales_lines(invoice.lines, invoice.amounts_include_tax)
    head = {"Type": "ACCREC", "Contact": {"ContactID": invoice.customer_id}}
    if invoice.doc_number:
        head["InvoiceNumber"] = invoice.doc_number
    return _document(head, invoice.doc_date, invoice.due_date, invoice.currency, lines, key, amount_types)


def _credit_note(credit_note: CreditNoteExport, key: str) -> dict[str, Any]:
    lines, amount_types = _sales_lines(credit_note.lines, credit_note.amounts_include_tax)
    head = {"Type": "ACCRECCREDIT", "Contact": {"ContactID": credit_note.customer_id}}
    if credit_note.doc_number:
        head["CreditNoteNumber"] = credit_note.doc_number
    return _document(head, credit_note.doc_date, None, credit_note.currency, lines, key, amount_types)


def _vendor_credit(credit: VendorCreditExport, key: str) -> dict[str, Any]:
    """A supplier's credit: a CreditNote ACCPAYCREDIT, numbered by its number or "hub vendor credit <hub id>"
    (Xero keeps no Reference on it: found again as a bill is, by number, supplier, date, currency and lines)."""
    lines = _account_lines(credit.lines)
    head = {"Type": "ACCPAYCREDIT", "Contact": {"ContactID": credit.vendor_id},
            "CreditNoteNumber": credit.doc_number or f"hub vendor credit {credit.hub_id}"}
    return _document(head, credit.doc_date, None, credit.currency, lines, None,
                     _amount_types([line.tax_code_id for line in credit.lines], credit.amounts_include_tax))


def _payments(payment: BillPaymentExport | CustomerPaymentExport, account: str | None, key: str) -> dict[str, Any]:
    account_ref = {"Code": account} if account else {}
    # A foreign payment's rate (the source's, inverted for Xero): without it Xero books the payment at its rate
    # for the day; either way Xero books the exchange difference against the invoice's rate.
    rate = {"CurrencyRate": xero_currency_rate(payment.exchange_rate)} if payment.exchange_rate is not None else {}
    return {"Payments": [{"Invoice": {"InvoiceID": applied.document_external_id}, "Account": account_ref,
                          "Date": payment.payment_date.isoformat(), "Amount": applied.amount, "Reference": key,
                          **rate}
                         for applied in payment.applied]}


def _bill_payment(payment: BillPaymentExport, key: str) -> dict[str, Any]:
    return _payments(payment, payment.bank_account_id, key)


def _customer_payment(payment: CustomerPaymentExport, key: str) -> dict[str, Any]:
    return _payments(payment, payment.deposit_account_id, key)


def _journal_entry(entry: JournalEntryExport, key: str) -> dict[str, Any]:
    lines = [{"LineAmount": line.amount if line.posting_type == "Debit" else -line.amount,
              "AccountCode": line.account_id, "Description": line.description or "",
              **({"Tracking": _tracking(line.class_id)} if line.class_id else {})} for line in entry.lines]
    origin = entry.memo or (f"Journal {entry.doc_number}" if entry.doc_number else f"hub journal entry {entry.hub_id}")
    return {"Narration": f"{origin} [{KEY_PREFIX} {key}]", "Date": entry.doc_date.isoformat(),
            "JournalLines": lines, "Status": "POSTED", "LineAmountTypes": "NoTax"}


def _attachment(attachment: AttachmentExport, key: str) -> dict[str, Any]:
    if attachment.document_kind in TYPED_KINDS:  # the endpoint its typed id names
        endpoint, document_id = split_external_id(attachment.document_kind, attachment.document_external_id)
    else:
        endpoint, document_id = _DOCUMENT_ENDPOINTS.get(attachment.document_kind), attachment.document_external_id
    if endpoint is None:
        raise TypeError(f"the Xero connector cannot attach a file to a {attachment.document_kind}")
    return {"Endpoint": endpoint, "DocumentID": document_id, "FileName": attachment.file_name,
            "MimeType": attachment.content_type}


def _bank_reference(doc_number: str | None, label: str, memo: str | None, key: str) -> str:
    """A bank transaction's Reference: what a person finds it by, then our key (Xero keeps the Reference of
    SPEND and RECEIVE transactions: an uncertain create is found again by it)."""
    origin = doc_number or label
    if memo:
        origin = f"{origin}: {memo}"
    return f"{origin[:180]} [{KEY_PREFIX} {key}]"


def _bank_transaction(kind: str, bank_account: str, contact_id: str | None, lines, doc_date, currency: str,
                      amounts_include_tax: bool, reference: str) -> dict[str, Any]:
    built = _account_lines(lines)
    body: dict[str, Any] = {"Type": kind, "BankAccount": {"Code": bank_account}, "Date": doc_date.isoformat(),
                            "CurrencyCode": currency, "Reference": reference, "Status": "AUTHORISED",
                            "LineAmountTypes": _amount_types([line.tax_code_id for line in lines],
                                                             amounts_include_tax),
                            "LineItems": built}
    if contact_id:
        body["Contact"] = {"ContactID": contact_id}
    return body


def _bank_entry(entry: BankEntryExport, key: str) -> dict[str, Any]:
    """Money out: a SPEND BankTransaction from the bank account (by its Code); money in: a RECEIVE one. The
    entry's vendor or customer is the Contact; one naming neither is refused before sending (`_missing_contact`)."""
    return _bank_transaction("SPEND" if entry.direction == "out" else "RECEIVE", entry.bank_account_id,
                             entry.party_id, entry.lines, entry.doc_date, entry.currency, entry.amounts_include_tax,
                             _bank_reference(entry.doc_number, f"hub bank entry {entry.hub_id}", entry.memo, key))


def _sales_receipt(receipt: SalesReceiptExport, key: str) -> dict[str, Any]:
    """A cash sale: a RECEIVE BankTransaction ("Receive money") into the deposit account (by its Code) from the
    customer, its lines by item as an invoice's (`_sales_lines`); our key in the Reference after the receipt's
    number. One without a deposit account has no BankAccount and is refused before sending
    (`_missing_deposit_account`)."""
    lines, amount_types = _sales_lines(receipt.lines, receipt.amounts_include_tax)
    body: dict[str, Any] = {"Type": "RECEIVE", "Contact": {"ContactID": receipt.customer_id},
                            "Date": receipt.doc_date.isoformat(), "CurrencyCode": receipt.currency,
                            "Reference": _bank_reference(receipt.doc_number, f"hub sales receipt {receipt.hub_id}",
                                                         receipt.memo, key),
                            "Status": "AUTHORISED", "LineAmountTypes": amount_types, "LineItems": lines}
    if receipt.deposit_account_id:
        body["BankAccount"] = {"Code": receipt.deposit_account_id}
    return body


def _expense_report(report: ExpenseReportExport, key: str) -> dict[str, Any]:
    """Paid by the company from its bank account: a SPEND BankTransaction to the payee; otherwise an ACCPAY
    Invoice (a bill) the payee is owed, found again as a bill is (number, payee, date, currency, lines)."""
    if report.bank_account_id:
        return _bank_transaction("SPEND", report.bank_account_id, report.payee_id, report.lines, report.doc_date,
                                 report.currency, report.amounts_include_tax,
                                 _bank_reference(report.doc_number, f"hub expense report {report.hub_id}",
                                                 report.memo, key))
    lines = _account_lines(report.lines)
    head = {"Type": "ACCPAY", "Contact": {"ContactID": report.payee_id},
            "InvoiceNumber": report.doc_number or f"hub expense report {report.hub_id}"}
    return _document(head, report.doc_date, report.doc_date, report.currency, lines, None,
                     _amount_types([line.tax_code_id for line in report.lines], report.amounts_include_tax))


_BUILDERS = {"vendor": _party, "customer": _party, "bill": _bill, "invoice": _invoice, "credit_note": _credit_note,
             "vendor_credit": _vendor_credit,
             "bill_payment": _bill_payment, "customer_payment": _customer_payment, "journal_entry": _journal_entry,
             "bank_entry": _bank_entry, "expense_report": _expense_report, "sales_receipt": _sales_receipt,
             "attachment": _attachment}
