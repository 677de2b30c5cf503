"""QuickBooks Online as an AccountingConnector: hub exports to QBO objects and back."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledgerbridge.connectors.base import (
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
    ExpenseReportExport,
    Export,
    InvoiceExport,
    JournalEntryExport,
    LineExport,
    Outgoing,
    PartyExport,
    ReferenceData,
    RemoteDocument,
    SalesLineExport,
    SalesReceiptExport,
    TaxRatePart,
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
from ledgerbridge.connectors.qbo.client import BATCH_MAX_ITEMS, QBOClient
from ledgerbridge.connectors.qbo.faults import (
    BatchLimitExceeded,
    DuplicateDocNumber,
    DuplicateName,
    ObjectNotFound,
    QBOValidationFault,
    StaleObject,
    fault_from_body,
)
from ledgerbridge.money import MoneyError, to_rate

# Our key goes into the object's private note, so that an uncertain create can be found again.
KEY_PREFIX = "LedgerBridge key:"

# Our reference kind -> QuickBooks entity. Lists carry `Active`; transactions are deleted instead.
LIST_ENTITIES = {
    "account": "Account",
    "vendor": "Vendor",
    "customer": "Customer",
    "class": "Class",
    "department": "Department",
    "term": "Term",
    "tax_code": "TaxCode",
    "item": "Item",
    "journal_code": "JournalCode",  # French companies only: others have none
}
TRANSACTION_ENTITIES = {
    "purchase_order": "PurchaseOrder",
    "bill": "Bill",
    "bill_payment": "BillPayment",
    "invoice": "Invoice",
    "credit_note": "CreditMemo",
    "sales_receipt": "SalesReceipt",
    "payment": "Payment",
    "journal_entry": "JournalEntry",
    "vendor_credit": "VendorCredit",
    "purchase": "Purchase",
    "deposit": "Deposit",
}
_REFERENCE_ENTITIES = {**LIST_ENTITIES, **TRANSACTION_ENTITIES}
COUNTRY_KINDS = {"journal_code": ("FR",)}  # lists QuickBooks has in these countries only
_KIND_BY_ENTITY = {entity: kind for kind, entity in _REFERENCE_ENTITIES.items()}
# Our record kinds -> the QuickBooks object each becomes, and how its payload is built.
OBJECTS = {"vendor": "Vendor", "customer": "Customer", "bill": "Bill", "bill_payment": "BillPayment",
           "invoice": "Invoice", "credit_note": "CreditMemo", "sales_receipt": "SalesReceipt",
           "customer_payment": "Payment", "journal_entry": "JournalEntry", "vendor_credit": "VendorCredit",
           "bank_entry": "Purchase", "expense_report": "Bill", "attachment": "Attachable"}
# Record kinds that become one of several QuickBooks objects, as their payload says (`object_for`): their
# external ids are typed, "Purchase:42", since QuickBooks numbers each object type apart.
TYPED_KINDS = {"bank_entry": ("Purchase", "Deposit"), "expense_report": ("Purchase", "Bill")}
# Record kinds whose exported objects can be changed afterwards (a sparse update to the record's
# current version), and those of them QuickBooks can also void (Intuit documents no void of a Bill;
# a CreditMemo's void through the API is unconfirmed, and the sandbox has none).
UPDATABLE_KINDS = frozenset({"invoice", "sales_receipt", "credit_note", "bill"})
VOIDABLE_KINDS = frozenset({"invoice", "sales_receipt"})
# Record kinds whose QuickBooks objects take a TxnTaxDetail: the source's own tax goes in it (`_txn_tax_detail`).
TAXED_KINDS = frozenset({"bill", "vendor_credit", "invoice", "credit_note", "sales_receipt", "bank_entry",
                         "expense_report"})
# What links a payment to a document it pays (QuickBooks writes them on the document).
PAYMENT_LINK_TYPES = frozenset({"Payment", "BillPaymentCheck", "BillPaymentCreditCard"})
_PARTY_KINDS = ("vendor", "customer")
_ID_CHUNK = 100  # ids per `Id IN (...)` query
_LOOKUP_CHUNK = 50  # values per look-up query
PRIVATE_NOTE_MAX = 4000
# How far QuickBooks' clock may be behind ours when judging "created after we queued it".
CLOCK_SKEW = timedelta(minutes=5)
# Change Data Capture answers for 30 days back and at most 1000 objects; keep a margin on the days.
CDC_MAX_AGE = timedelta(days=29)
CDC_MAX_OBJECTS = 1000


class QuickBooksOnlineConnector:
    kind = "quickbooks_online"
    capabilities = Capabilities(
        kinds=frozenset(OBJECTS), reference_kinds=tuple(_REFERENCE_ENTITIES), batch_size=BATCH_MAX_ITEMS,
        updatable_kinds=UPDATABLE_KINDS,
        deletable_kinds=frozenset(TRANSACTION_ENTITIES),  # lists are deactivated, transactions deleted
        change_capture=True, doc_number_limit=21, name_limit=500,
        typed_ids={entity: _KIND_BY_ENTITY[entity] for entities in TYPED_KINDS.values() for entity in entities})

    def __init__(self, client: QBOClient):
        self.client = client
        self.company_id = client.realm_id
        self._preferences: dict[str, Any] | None = None
        self._country: str | None = None

    # -- reference data in ----------------------------------------------------------------------

    def fetch_reference(self, kind: str, since: datetime | None) -> Iterator[ReferenceData]:
        """Every object of `kind` changed since `since` (all of them without), by query."""
        if kind in COUNTRY_KINDS and self.country() not in COUNTRY_KINDS[kind]:
            return  # the company's country has no such list (journal codes: France only)
        entity = _REFERENCE_ENTITIES[kind]
        # Inactive list objects too: a deactivation must reach the mirror.
        where = "Active IN (true, false)" if kind in LIST_ENTITIES else ""
        refs = (_reference(kind, obj)
                for obj in self.client.query_by_last_update(entity, where, _qbo_time(since) if since else None))
        yield from (self._with_rates(list(refs)) if kind == "tax_code" else refs)

    def existing_ids(self, kind: str, external_ids: list[str]) -> set[str]:
        """Which of these ids the company still has (a second look before calling them deleted)."""
        entity, found = _REFERENCE_ENTITIES[kind], set()
        active = "Active IN (true, false) AND " if kind in LIST_ENTITIES else ""
        for start in range(0, len(external_ids), _ID_CHUNK):
            ids = ", ".join(f"'{_quote(i)}'" for i in external_ids[start: start + _ID_CHUNK])
            found.update(str(obj["Id"]) for obj in self.client.query_all(entity, where=f"{active}Id IN ({ids})"))
        return found

    def fetch_changes(self, starts: dict[str, datetime], now: datetime) -> ChangeSet:
        """Change Data Capture, deletions included, for the kinds it can answer completely (and, empty,
        the lists the company's country does not have).

        One request for every kind from the oldest start; if that answer is cut at 1000 objects, one
        request per kind from its own start. A kind whose start is over 29 days back, or whose own
        answer is cut, is left out: the caller reads it by query.
        """
        # A list the company's country lacks has no changes; naming it would fail the whole request.
        absent = {kind: [] for kind in starts if kind in COUNTRY_KINDS and self.country() not in COUNTRY_KINDS[kind]}
        eligible = {kind: since for kind, since in starts.items() if since >= now - CDC_MAX_AGE and kind not in absent}
        if not eligible:
            return ChangeSet(absent, None)
        changes, as_of = self._cdc(tuple(eligible), min(eligible.values()))
        if changes is not None:
            return ChangeSet({**absent, **changes}, as_of)
        answered: dict[str, list[ReferenceData]] = {}
        for kind, since in eligible.items():
            alone, stamp = self._cdc((kind,), since)
            if alone is not None:
                answered.update(alone)
                as_of = min(filter(None, (as_of, stamp)), default=None)
        return ChangeSet({**absent, **answered}, as_of)

    def _cdc(self, kinds: tuple[str, ...], since: datetime) -> tuple[dict[str, list[ReferenceData]] | None, datetime | None]:
        """One CDC request: the changes by kind (None when cut at 1000 objects) and QuickBooks' time of it."""
        reply = self.client.cdc([_REFERENCE_ENTITIES[kind] for kind in kinds], _qbo_time(since))
        changes: dict[str, list[ReferenceData]] = {kind: [] for kind in kinds}
        received = 0
        for response in reply.get("CDCResponse", []):
            for page in response.get("QueryResponse", []):
                for entity, objects in page.items():
                    if entity in _KIND_BY_ENTITY and isinstance(objects, list):
                        kind = _KIND_BY_ENTITY[entity]
                        changes.setdefault(kind, []).extend(_reference(kind, obj) for obj in objects)
                        received += len(objects)
        if changes.get("tax_code"):
            changes["tax_code"] = self._with_rates(changes["tax_code"])
        stamp = reply.get("time")
        as_of = datetime.fromisoformat(stamp).astimezone(UTC) if isinstance(stamp, str) else self.client.server_time
        return (None if received >= CDC_MAX_OBJECTS else changes), as_of

    def _with_rates(self, tax_codes: list[ReferenceData]) -> list[ReferenceData]:
        """Tax codes with their rates: a TaxCode names its TaxRates (SalesTaxRateList, PurchaseTaxRateList);
        each TaxRate holds its RateValue (percent). Read once, for the codes that name any."""
        if not any(_rate_refs(ref.raw, side) for ref in tax_codes for side in _RATE_LISTS.values()):
            return tax_codes
        # An inactive rate still holds the rate of the codes that name it.
        rates = {str(obj["Id"]): obj for obj in self.client.query_all("TaxRate", "Active IN (true, false)")}
        rated = []
        for ref in tax_codes:
            sides = {side: _code_rate(_rate_refs(ref.raw, rate_list), rates) for side, rate_list in _RATE_LISTS.items()}
            known = {side: str(rate) for side, rate in sides.items() if rate is not None}
            if len(set(known.values())) == 1:  # one rate whichever the side: the plain "rate"
                known["rate"] = next(iter(known.values()))
            # Each rate by its Id too, for the TxnTaxDetail that books a source's own tax per rate.
            known.update({key: parts for key, rate_list in _RATE_PARTS.items()
                          if (parts := _rate_parts(_rate_refs(ref.raw, rate_list), rates))})
            rated.append(replace(ref, raw={**ref.raw, **known}) if known else ref)
        return rated

    def country(self) -> str:
        """The company's country (CompanyInfo.Country), read once: some lists exist in one country only."""
        if self._country is None:
            info = self.client.read("CompanyInfo", self.company_id)
            self._country = str(info.get("Country") or "US")
        return self._country

    def server_time(self) -> datetime | None:
        """QuickBooks' own clock at its last answer: watermarks follow it, not ours."""
        return self.client.server_time

    def preferences(self) -> dict[str, Any]:
        """The company's preferences, read once per run."""
        if self._preferences is None:
            self._preferences = self.client.preferences()
        return self._preferences

    def warns_on_duplicate_bill_numbers(self) -> bool:
        """The company's preference: QuickBooks refuses a vendor's bill number twice when it is on."""
        names = (self.preferences().get("OtherPrefs") or {}).get("NameValue") or []
        return any(p.get("Name") == "WarnDuplicateBillNumber" and str(p.get("Value")).lower() == "true" for p in names)

    def single_currency(self) -> str | None:
        """The home currency when multicurrency is off (QuickBooks then refuses any other), else None."""
        currency = self.preferences().get("CurrencyPrefs") or {}
        if str(currency.get("MultiCurrencyEnabled")).lower() == "true":
            return None
        return (currency.get("HomeCurrency") or {}).get("value")

    def exchange_rate(self, currency: str, on: date) -> Decimal:
        """QuickBooks' rate for the day: the company's own if set, else the market rate it downloaded."""
        rate = self.client.exchange_rate(currency, on.isoformat()).get("Rate")
        try:
            return to_rate(rate, f"QuickBooks' exchange rate for {currency} on {on.isoformat()}")
        except MoneyError as error:
            raise RecordRejected(str(error)) from None

    # -- documents out --------------------------------------------------------------------------

    def api_calls_left_today(self) -> None:
        return None  # QuickBooks Online limits calls per minute, not per day

    def acknowledge(self) -> int:
        return 0  # every answer arrives with its request: nothing waits to be consumed

    def inbound_files(self) -> set[str]:
        return set()

    def payload(self, kind: str, record: Export, key: str) -> dict[str, Any]:
        build = _BUILDERS.get(kind)
        if build is None:
            raise TypeError(f"QuickBooks Online cannot export a record of kind {kind!r}")
        body = build(record, key)
        if kind in TAXED_KINDS:
            _with_source_tax(body, record.lines, record.amounts_include_tax)
        if getattr(record, "exchange_rate", None) is not None:
            body["ExchangeRate"] = record.exchange_rate  # home currency per unit of the document's
        return body

    def create_many(self, items: list[Outgoing], batch_key: str) -> dict[str, Created | ConnectorError]:
        """Create, update or void up to 30 objects; per item ref, what became of it.

        Creates go in one batch request (requestid = `batch_key`). Updates and voids need the
        target's current SyncToken: one batch request of Query items (one per entity) reads every
        target first, then the writes go with the creates in the one batch request. An update sends
        the record's full current payload as a sparse update; a void, `optionsData: "void"`. A
        target changed by someone else between the read and the write (5010) is read again and
        written once more (a second batch request, its own stable requestid); a second 5010 is a
        rejection naming both SyncTokens. An update already applied (our key in the note) or a
        void of a voided object needs no request: it is reported found (adopted).

        An item QuickBooks refused comes back as its RecordRejected; an item without an answer, or
        answered with a system fault, as OutcomeUnknown. If nothing can have been applied the
        client raises (TransientError, ReconnectRequired); if the whole batch's outcome is unknown,
        OutcomeUnknown. Once QuickBooks answered, nothing is raised: what it applied is reported.
        """
        if all(item.kind == "attachment" for item in items):
            return self._upload_many(items)
        outcomes: dict[str, Created | ConnectorError] = {}
        changes = [item for item in items if item.operation != CREATE]
        for item in changes:
            refused = _unchangeable(item)
            if refused is not None:
                outcomes[item.ref] = refused
        changes = [item for item in changes if item.ref not in outcomes]
        entries = [(item, _create_request(item)) for item in items if item.operation == CREATE]
        sent_tokens: dict[str, str] = {}
        if changes:
            current = self._read_targets(changes)  # raises (nothing applied) when it cannot read
            entries += _change_entries(changes, current, sent_tokens, outcomes)
        if not entries:
            return outcomes
        written, stale = self._write_batch(entries, batch_key)
        outcomes.update(written)
        if stale:
            outcomes.update(self._retry_stale(stale, sent_tokens, batch_key))
        return {item.ref: outcomes[item.ref] for item in items}

    def _write_batch(self, entries: list[tuple[Outgoing, dict[str, Any]]], batch_key: str
                     ) -> tuple[dict[str, Created | ConnectorError], list[Outgoing]]:
        """One batch request of creates, updates and voids: per item ref, what became of it, and the
        updates/voids QuickBooks refused as stale (5010: nothing applied, to be read and sent again)."""
        try:
            answers = self.client.batch([request for _, request in entries], request_id=batch_key)
        except (BatchLimitExceeded, QBOValidationFault) as fault:
            # The request as a whole was refused and nothing applied: halve it until the item at
            # fault is alone and rejected, so one bad payload never holds back the rest.
            if len(entries) == 1:
                return {entries[0][0].ref: fault}, []
            half = len(entries) // 2
            first, first_stale = self._write_batch(entries[:half], _part_key(batch_key, "a"))
            second, second_stale = self._write_batch(entries[half:], _part_key(batch_key, "b"))
            return {**first, **second}, first_stale + second_stale
        outcomes: dict[str, Created | ConnectorError] = {}
        clashes: list[Outgoing] = []
        stale: list[Outgoing] = []
        for item, _ in entries:
            entity, answer = object_for(item.kind, item.payload), answers.get(item.ref)
            if answer is None:
                outcomes[item.ref] = OutcomeUnknown(f"batch {batch_key}: no answer for item {item.ref}")
            elif entity in answer:
                created_id = typed_id(item.kind, entity, str(answer[entity]["Id"]))
                outcomes[item.ref] = Created(created_id if item.operation == CREATE else item.target_id or created_id)
            else:
                # Only a validation fault is a verdict on the record; anything else may have applied.
                fault = fault_from_body({"Fault": answer.get("Fault") or {}}, 200)
                if item.operation != CREATE and isinstance(fault, StaleObject):
                    stale.append(item)
                    continue
                if item.operation == CREATE and isinstance(fault, (DuplicateDocNumber, DuplicateName)):
                    clashes.append(item)
                if item.operation != CREATE and isinstance(fault, ObjectNotFound):
                    outcomes[item.ref] = RecordRejected(
                        f"{_doing(item)} {entity} {item.target_id}: QuickBooks no longer has it ({fault})",
                        fault.code, "Id")
                elif isinstance(fault, RecordRejected):
                    outcomes[item.ref] = fault
                else:
                    outcomes[item.ref] = OutcomeUnknown(f"batch {batch_key}, item {item.ref}: {fault}")
        # A 6140 / 6240 for our own record from an earlier attempt whose answer was lost: adopt it.
        try:
            outcomes.update(self.find_existing_many(clashes))
        except ConnectorError as exc:
            for item in clashes:
                outcomes[item.ref] = OutcomeUnknown(f"{outcomes[item.ref]}; and the look-up for it failed: {exc}")
        return outcomes, stale

    def _retry_stale(self, stale: list[Outgoing], sent_tokens: dict[str, str], batch_key: str
                     ) -> dict[str, Created | ConnectorError]:
        """Someone changed these targets between our read and our write: read them again and send
        once more; stale a second time, they are held (rejected), naming both versions."""
        outcomes: dict[str, Created | ConnectorError] = {}
        try:
            current = self._read_targets(stale)
        except (TransientError, ReconnectRequired) as exc:
            return {item.ref: TransientError(f"{_doing(item)} {OBJECTS[item.kind]} {item.target_id}: changed in "
                                             f"QuickBooks meanwhile (5010) and could not be read again: {exc}")
                    for item in stale}
        entries = _change_entries(stale, current, sent_tokens, outcomes)
        if not entries:
            return outcomes
        written, still_stale = self._write_batch(entries, _part_key(batch_key, "stale"))
        outcomes.update(written)
        if still_stale:
            try:
                held = self._read_targets(still_stale)
            except ConnectorError:
                held = {}
            for item in still_stale:
                outcomes[item.ref] = _held(item, held.get(_target(item)), sent_tokens[item.ref])
        return outcomes

    def _read_targets(self, items: list[Outgoing]) -> dict[tuple[str, str], dict[str, Any]]:
        """The objects these updates/voids apply to, by (entity, Id) (QuickBooks numbers each entity
        apart): one batch request with one Query item per
        entity (a fresh requestid: a repeat would answer the old SyncTokens). Raises TransientError
        or ReconnectRequired when it cannot read (nothing has been applied)."""
        by_entity: dict[str, set[str]] = {}
        for item in items:
            by_entity.setdefault(OBJECTS[item.kind], set()).add(str(item.target_id))
        queries = [{"bId": f"q{n}", "Query": f"SELECT * FROM {entity} WHERE Id IN "
                                             f"({', '.join(_id_literal(i) for i in sorted(ids))}) MAXRESULTS 1000"}
                   for n, (entity, ids) in enumerate(sorted(by_entity.items()), 1)]
        try:
            answers = self.client.batch(queries, request_id=str(uuid.uuid4()), read_only=True)
        except (TransientError, ReconnectRequired):
            raise
        except ConnectorError as exc:  # a refused read (a fault, not a verdict on a record): nothing applied
            raise TransientError(f"reading the SyncTokens of {len(items)} objects to change failed: {exc}") from exc
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for query, entity in zip(queries, sorted(by_entity), strict=True):
            answer = answers.get(query["bId"]) or {}
            if "QueryResponse" not in answer:
                fault = fault_from_body({"Fault": answer.get("Fault") or {}}, 200) if answer else "no answer"
                raise TransientError(f"reading the SyncTokens failed ({query['Query']}): {fault}")
            found.update(((entity, str(obj["Id"])), obj) for obj in answer["QueryResponse"].get(entity) or [])
        return found

    def _upload_many(self, items: list[Outgoing]) -> dict[str, Created | ConnectorError]:
        """Files cannot go in a batch: one upload each, each with its own requestid. When one cannot
        go now, it and the rest are reported not sent; those uploaded before it stand."""
        outcomes: dict[str, Created | ConnectorError] = {}
        for position, item in enumerate(items):
            try:
                outcomes[item.ref] = Created(str(self.client.upload(item.payload, item.content or b"", item.key)["Id"]))
            except (RecordRejected, OutcomeUnknown) as exc:
                outcomes[item.ref] = exc
            except (TransientError, ReconnectRequired) as exc:
                outcomes[item.ref] = exc
                for later in items[position + 1:]:
                    outcomes[later.ref] = TransientError(f"not sent: an earlier upload could not go ({exc})")
                break
        return outcomes

    def find_existing_many(self, items: list[Outgoing]) -> dict[str, Created]:
        """For items whose create, update or void may have been applied: ref -> what exists, adopted.

        An update is found when its target's PrivateNote carries the update's own key; a void when
        its target is voided. One query per entity reads the targets by Id."""
        found: dict[str, Created] = self._find_changes([item for item in items if item.operation != CREATE])
        by_search: dict[tuple[str, str], list[Outgoing]] = {}
        for item in items:
            if item.operation != CREATE:
                continue
            by_search.setdefault((object_for(item.kind, item.payload), _search_field(item)), []).append(item)
        for (entity, field_name), group in by_search.items():
            for where, candidates_for in self._searches(entity, field_name, group):
                candidates = list(self.client.query_all(entity, where=where))
                for item in candidates_for:
                    match = _ours(item, candidates, field_name)
                    if match is not None:
                        found[item.ref] = Created(typed_id(item.kind, entity, match), adopted=True)
        return found

    def _find_changes(self, items: list[Outgoing]) -> dict[str, Created]:
        found: dict[str, Created] = {}
        by_entity: dict[str, list[Outgoing]] = {}
        for item in items:
            if item.target_id:
                by_entity.setdefault(OBJECTS[item.kind], []).append(item)
        for entity, group in by_entity.items():
            ids = sorted({str(item.target_id) for item in group})
            targets: dict[str, dict[str, Any]] = {}
            for start in range(0, len(ids), _ID_CHUNK):
                listed = ", ".join(_id_literal(i) for i in ids[start: start + _ID_CHUNK])
                targets.update((str(o["Id"]), o) for o in self.client.query_all(entity, where=f"Id IN ({listed})"))
            for item in group:
                target = targets.get(str(item.target_id))
                if target is None:
                    continue
                if (item.operation == VOID and _is_voided(target)) or (
                        is_update(item.operation) and item.key in (target.get("PrivateNote") or "")):
                    found[item.ref] = Created(str(item.target_id), adopted=True)
        return found

    @staticmethod
    def _searches(entity: str, field_name: str, group: list[Outgoing]):
        """(WHERE clause, items it serves): `IN` lists, or `=` where QuickBooks documents only that."""
        values = sorted({_search_value(item, field_name) for item in group})
        if entity == "Attachable":
            for value in values:
                yield f"{field_name} = '{_quote(value)}'", [i for i in group if _search_value(i, field_name) == value]
            return
        for start in range(0, len(values), _LOOKUP_CHUNK):
            listed = ", ".join(f"'{_quote(v)}'" for v in values[start: start + _LOOKUP_CHUNK])
            yield f"{field_name} IN ({listed})", group

    def fetch_documents(self, kind: str, external_ids: list[str]) -> dict[str, RemoteDocument]:
        """The documents by the external ids we hold (typed ones, "Purchase:42", read from their own object)."""
        found: dict[str, RemoteDocument] = {}
        by_entity: dict[str, list[str]] = {}
        for external_id in external_ids:
            entity, object_id = split_external_id(kind, external_id)
            by_entity.setdefault(entity, []).append(object_id)
        for entity, object_ids in by_entity.items():
            for start in range(0, len(object_ids), _ID_CHUNK):
                ids = ", ".join(f"'{_quote(i)}'" for i in object_ids[start : start + _ID_CHUNK])
                for obj in self.client.query_all(entity, where=f"Id IN ({ids})"):
                    total = _money(obj["TotalAmt"])
                    balance = _money(obj["Balance"]) if "Balance" in obj else total
                    # Tax added on top of the lines (TaxExcluded, QuickBooks' default): not in the hub's total.
                    added = _money((obj.get("TxnTaxDetail") or {}).get("TotalTax") or 0) \
                        if obj.get("GlobalTaxCalculation") != "TaxInclusive" else Decimal(0)
                    external_id = typed_id(kind, entity, str(obj["Id"]))
                    found[external_id] = RemoteDocument(external_id, total, balance, added_tax=added)
        return found


def object_for(kind: str, payload: dict[str, Any] | None = None) -> str:
    """The QuickBooks object a record of `kind` becomes: its payload decides for a kind that becomes one of
    several (a bank entry: money out a Purchase, in a Deposit; an expense report: paid a Purchase, owed a Bill)."""
    if kind not in TYPED_KINDS or payload is None:
        return OBJECTS[kind]
    if "DepositToAccountRef" in payload:
        return "Deposit"
    return "Purchase" if "PaymentType" in payload else "Bill"


def typed_id(kind: str, entity: str, object_id: str) -> str:
    """The external id we keep: QuickBooks' Id, with its object type where the kind becomes one of several."""
    return f"{entity}:{object_id}" if kind in TYPED_KINDS else object_id


def split_external_id(kind: str, external_id: str) -> tuple[str, str]:
    """(QuickBooks object, its Id) of an external id we keep (`typed_id`)."""
    if kind in TYPED_KINDS:
        entity, _, object_id = str(external_id).partition(":")
        if entity in TYPED_KINDS[kind] and object_id:
            return entity, object_id
        raise ValueError(f"{kind} external id {external_id!r} names no QuickBooks object: expected one of "
                         f"{', '.join(f'{e}:<Id>' for e in TYPED_KINDS[kind])}")
    return OBJECTS[kind], str(external_id)


def _create_request(item: Outgoing) -> dict[str, Any]:
    return {"bId": item.ref, "operation": "create", object_for(item.kind, item.payload): item.payload}


def _target(item: Outgoing) -> tuple[str, str]:
    return OBJECTS[item.kind], str(item.target_id)


def _doing(item: Outgoing) -> str:
    return "voiding" if item.operation == VOID else "updating"


def _unchangeable(item: Outgoing) -> RecordRejected | None:
    """Why this update/void cannot be sent at all, if it cannot."""
    entity = OBJECTS.get(item.kind, item.kind)
    if item.operation != VOID and not is_update(item.operation):
        return RecordRejected(f"unknown outbox operation {item.operation!r} for {item.kind} {item.ref}",
                              element="operation")
    if item.kind not in UPDATABLE_KINDS:
        return RecordRejected(f"QuickBooks Online connector cannot {'void' if item.operation == VOID else 'update'} "
                              f"a {item.kind} ({entity}); it changes only {', '.join(sorted(UPDATABLE_KINDS))}",
                              element="operation")
    if item.operation == VOID and item.kind not in VOIDABLE_KINDS:
        return RecordRejected(f"QuickBooks Online cannot void a {entity} through its API ({item.kind} "
                              f"{item.target_id}): delete it or credit it in QuickBooks", element="operation")
    if not item.target_id:
        return RecordRejected(f"{_doing(item)} {entity}: the outbox row names no QuickBooks Id to apply it to",
                              element="Id")
    return None


def _change_entries(items: list[Outgoing], current: dict, sent_tokens: dict[str, str],
                    outcomes: dict[str, Created | ConnectorError]) -> list[tuple[Outgoing, dict[str, Any]]]:
    """The batch entries of updates and voids against their targets as read (`current`); an item decided
    from the read alone (found done already, target gone or voided) goes to `outcomes` instead."""
    entries = []
    for item in items:
        verdict = _change_request(item, current.get(_target(item)))
        if isinstance(verdict, dict):
            entries.append((item, verdict))
            sent_tokens[item.ref] = str(verdict[OBJECTS[item.kind]]["SyncToken"])
        else:
            outcomes[item.ref] = verdict
    return entries


def _change_request(item: Outgoing, target: dict[str, Any] | None) -> dict[str, Any] | Created | RecordRejected:
    """The batch item updating or voiding `target` as it is now, or the outcome without a request."""
    entity = OBJECTS[item.kind]
    if target is None:
        return RecordRejected(f"{_doing(item)} {entity} {item.target_id}: QuickBooks has no {entity} with that Id "
                              "(deleted there?)", "610", "Id")
    head = {"Id": str(target["Id"]), "SyncToken": str(target["SyncToken"]), "sparse": True}
    if item.operation == VOID:
        if _is_voided(target):
            return Created(str(target["Id"]), adopted=True)  # voided already: what we wanted
        payments = _payments(target)
        if payments:
            return RecordRejected(f"voiding {entity} {target['Id']}: QuickBooks holds payments applied to it "
                                  f"({', '.join(payments)}); void or delete them in QuickBooks first: not voided",
                                  "6000", "LinkedTxn")
        return {"bId": item.ref, "operation": "update", "optionsData": "void", entity: head}
    if item.key in (target.get("PrivateNote") or ""):
        return Created(str(target["Id"]), adopted=True)  # this update was applied already
    if _is_voided(target):
        return RecordRejected(f"updating {entity} {target['Id']}: it is voided in QuickBooks and cannot change "
                              "any more: not updated", "6000", "Id")
    body = {key: value for key, value in item.payload.items() if key not in ("Id", "SyncToken", "sparse")}
    return {"bId": item.ref, "operation": "update", entity: {**body, **head}}


def _held(item: Outgoing, target: dict[str, Any] | None, ours: str) -> RecordRejected:
    """The rejection of an update/void whose target changed under it twice."""
    entity = OBJECTS[item.kind]
    if target is None:
        held = "a newer SyncToken (it could not be read again)"
    else:
        when = (target.get("MetaData") or {}).get("LastUpdatedTime", "an unknown time")
        held = f"SyncToken {target['SyncToken']} (changed by someone else at {when})"
    return RecordRejected(f"{_doing(item)} {entity} {item.target_id}: QuickBooks holds {held}; ours was built from "
                          f"SyncToken {ours}, read again once after a first 5010: held, not overwritten",
                          "5010", "SyncToken")


def _is_voided(obj: dict[str, Any]) -> bool:
    """What QuickBooks makes of a voided transaction: its note starts "Voided" and its total is zero."""
    return str(obj.get("PrivateNote") or "").startswith("Voided") and _money(obj.get("TotalAmt", 0)) == 0


def _payments(obj: dict[str, Any]) -> list[str]:
    return [f"{link.get('TxnType')} {link.get('TxnId')}" for link in obj.get("LinkedTxn") or []
            if link.get("TxnType") in PAYMENT_LINK_TYPES]


def _id_literal(value: str) -> str:
    return f"'{_quote(str(value))}'"


def _search_field(item: Outgoing) -> str:
    if item.kind in _PARTY_KINDS:
        return "DisplayName"
    if item.kind == "attachment":
        return "AttachableRef.EntityRef.Value"
    return "DocNumber" if item.payload.get("DocNumber") else "TxnDate"


def _search_value(item: Outgoing, field_name: str) -> str:
    if field_name == "AttachableRef.EntityRef.Value":
        return str(item.payload["AttachableRef"][0]["EntityRef"]["value"])
    return str(item.payload[field_name])


def _ours(item: Outgoing, candidates: list[dict[str, Any]], field_name: str) -> str | None:
    """The candidate that is this item's object, if any; the oldest when QuickBooks holds copies."""
    for obj in sorted(candidates, key=lambda o: (_created_at(o) or datetime.max.replace(tzinfo=UTC))):
        if field_name == "DisplayName":
            # A party carries no key of ours: adopt only an active one of that exact name created
            # after the record was queued; an older one is somebody else's and goes to review.
            created = _created_at(obj)
            if obj.get("DisplayName") == item.payload["DisplayName"] and obj.get("Active", True) and (
                    item.queued_at is None or (created is not None and created >= item.queued_at - CLOCK_SKEW)):
                return str(obj["Id"])
            continue
        note = obj.get("Note" if item.kind == "attachment" else "PrivateNote") or ""
        party_ref = next((ref for ref in ("VendorRef", "CustomerRef", "EntityRef") if ref in item.payload), None)
        same_party = party_ref is None or (obj.get(party_ref) or {}).get("value") == item.payload[party_ref]["value"]
        if item.key in note and same_party:
            return str(obj["Id"])  # our key, a uuid, in its note: nobody else's
    return None


def _part_key(batch_key: str, part: str) -> str:
    """The requestid of half a refused batch: as stable as the batch's own."""
    return str(uuid.uuid5(uuid.UUID(batch_key), part)) if _is_uuid(batch_key) else f"{batch_key[:34]}-{part}"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _money(value: Any) -> Decimal:
    # JSON numbers without a decimal point ("Balance": 0) arrive as int.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _created_at(obj: dict[str, Any]) -> datetime | None:
    created = (obj.get("MetaData") or {}).get("CreateTime")
    return datetime.fromisoformat(created).astimezone(UTC) if created else None


def _reference(kind: str, obj: dict[str, Any]) -> ReferenceData:
    meta = obj.get("MetaData") or {}
    updated = meta.get("LastUpdatedTime")
    deleted = obj.get("status") == "Deleted"
    party = obj.get("VendorRef") or obj.get("CustomerRef") or obj.get("EntityRef") or {}
    return ReferenceData(
        external_id=str(obj["Id"]),
        name=obj.get("DisplayName") or obj.get("FullyQualifiedName") or obj.get("Name") or obj.get("DocNumber"),
        active=not deleted and bool(obj.get("Active", True)),
        updated_at=datetime.fromisoformat(updated).astimezone(UTC) if updated else None,
        deleted=deleted,
        party_external_id=party.get("value"),
        number=obj.get("AcctNum") or obj.get("DocNumber") or obj.get("Sku"),  # an Item's stock code: its SKU
        account_type=obj.get("AccountType"),
        email=(obj.get("PrimaryEmailAddr") or {}).get("Address"),
        tax_id=obj.get("TaxIdentifier"),
        city=(obj.get("BillAddr") or {}).get("City"),
        postcode=(obj.get("BillAddr") or {}).get("PostalCode"),
        currency=(obj.get("CurrencyRef") or {}).get("value"),
        # QuickBooks France gives each party its own payables/receivables account; it has no auxiliary code
        collective_account=(obj.get(_COLLECTIVE_REFS.get(kind, "")) or {}).get("value"),
        raw=obj,
    )


_COLLECTIVE_REFS = {"vendor": "APAccountRef", "customer": "ARAccountRef"}


# The mirror's key of a tax code's rate on each side -> the TaxCode field listing that side's TaxRates.
_RATE_LISTS = {"sales_rate": "SalesTaxRateList", "purchase_rate": "PurchaseTaxRateList"}


def _rate_refs(tax_code: dict[str, Any], rate_list: str) -> list[dict[str, Any]]:
    """The TaxRateDetail entries of one of a TaxCode's rate lists, in their TaxOrder."""
    details = (tax_code.get(rate_list) or {}).get("TaxRateDetail") or []
    return sorted((d for d in details if isinstance(d, dict)), key=lambda d: int(d.get("TaxOrder") or 0))


# The mirror's key of a tax code's rates by Id on each side (Resolver.tax_rate_parts) -> the TaxCode's list.
_RATE_PARTS = {"sales_tax_rates": "SalesTaxRateList", "purchase_tax_rates": "PurchaseTaxRateList"}


def _rate_parts(details: list[dict[str, Any]], rates: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """A code's TaxRates on one side as [{"id", "percent"}], in their TaxOrder; [] when a rate is unknown."""
    parts = []
    for detail in details:
        rate_id = str((detail.get("TaxRateRef") or {}).get("value"))
        rate = rates.get(rate_id)
        if rate is None or rate.get("RateValue") is None:
            return []
        parts.append({"id": rate_id, "percent": str(rate["RateValue"])})
    return parts


def _code_rate(details: list[dict[str, Any]], rates: dict[str, dict[str, Any]]) -> Decimal | None:
    """The whole rate (percent) of a code's TaxRates on one side: their sum, a TaxOnAmountPlusTax rate
    taken on the amount plus the tax before it (Quebec's former QST); None when a rate is unknown."""
    if not details:
        return None
    total = Decimal(0)
    for detail in details:
        rate = rates.get(str((detail.get("TaxRateRef") or {}).get("value")))
        if rate is None or rate.get("RateValue") is None:
            return None
        value = Decimal(str(rate["RateValue"]))
        total += value * (1 + total / 100) if detail.get("TaxTypeApplicable") == "TaxOnAmountPlusTax" else value
    return total.normalize() if total != total.to_integral_value() else total.quantize(Decimal(1))


def _with_source_tax(body: dict[str, Any], lines: tuple[LineExport | SalesLineExport, ...],
                     amounts_include_tax: bool) -> dict[str, Any]:
    """The document with the source's own tax as its TxnTaxDetail, when its lines carry it (see
    `_txn_tax_detail`): QuickBooks then books that tax instead of the one it works out from the codes."""
    detail = _txn_tax_detail(lines, amounts_include_tax)
    if detail is not None:
        body["TxnTaxDetail"] = detail
    return body


def _txn_tax_detail(lines: tuple[LineExport | SalesLineExport, ...], amounts_include_tax: bool
                    ) -> dict[str, Any] | None:
    """TotalTax (the lines' tax added up) and one TaxLine per tax rate (its tax and the net amount it is
    on), from the source's tax amounts, checked against the rates before export. QuickBooks takes a tax
    per rate, not per line: a line's tax is split over its code's rates by their percent (the last rate
    takes the cents left). None, so that QuickBooks computes the tax itself as before, when no line
    carries a tax amount, or when a taxed line cannot be placed: its code's rates are not mirrored by Id
    (a US code, a code mirrored before the rate ids were kept), or it has no tax amount but a rate above 0."""
    taxed = [line for line in lines if line.tax_code_id]
    if not any(line.tax_amount is not None for line in taxed):
        return None
    by_rate: dict[tuple[str, Decimal], list[Decimal]] = {}  # (rate id, percent) -> [tax, net amount taxable]
    for line in taxed:
        if not line.tax_rates or (line.tax_amount is None and any(part.percent for part in line.tax_rates)):
            return None
        tax = _cents(line.tax_amount or Decimal(0))
        net = line.amount - tax if amounts_include_tax else line.amount
        for part, share in zip(line.tax_rates, _tax_shares(tax, line.tax_rates), strict=True):
            totals = by_rate.setdefault((part.rate_id, part.percent), [Decimal(0), Decimal(0)])
            totals[0] += share
            totals[1] += net
    tax_lines = [{"Amount": _cents(tax), "DetailType": "TaxLineDetail",
                  "TaxLineDetail": {"TaxRateRef": {"value": rate_id}, "PercentBased": True, "TaxPercent": percent,
                                    "NetAmountTaxable": _cents(net)}}
                 for (rate_id, percent), (tax, net) in by_rate.items()]
    return {"TotalTax": sum((line["Amount"] for line in tax_lines), Decimal("0.00")), "TaxLine": tax_lines}


def _tax_shares(tax: Decimal, parts: tuple[TaxRatePart, ...]) -> list[Decimal]:
    """A line's tax over its code's rates in proportion to their percent, to the cent, adding up to it."""
    whole = sum((part.percent for part in parts), Decimal(0))
    shares = [_cents(tax * part.percent / whole) if whole else Decimal("0.00") for part in parts[:-1]]
    return [*shares, tax - sum(shares, Decimal(0))]


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

def _party(party: PartyExport, key: str) -> dict[str, Any]:
    body: dict[str, Any] = {"DisplayName": party.name, "CompanyName": party.name}
    if party.email:
        body["PrimaryEmailAddr"] = {"Address": party.email}
    if party.currency:
        body["CurrencyRef"] = {"value": party.currency}
    return body


def _line(amount: Decimal, detail_type: str, detail: dict[str, Any], description: str | None) -> dict[str, Any]:
    line: dict[str, Any] = {"Amount": amount, "DetailType": detail_type, detail_type: detail}
    if description:
        line["Description"] = description
    return line


def _class(detail: dict[str, Any], class_id: str | None, tax_code_id: str | None = None) -> dict[str, Any]:
    if class_id:
        detail["ClassRef"] = {"value": class_id}
    if tax_code_id:
        detail["TaxCodeRef"] = {"value": tax_code_id}
    return detail


def _document(head: dict[str, Any], doc_date, currency: str, lines: list[dict[str, Any]], note: str,
              doc_number: str | None, due_date=None, amounts_include_tax: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {**head, "TxnDate": doc_date.isoformat(), "CurrencyRef": {"value": currency},
                            "Line": lines, "PrivateNote": note}
    if amounts_include_tax:
        body["GlobalTaxCalculation"] = "TaxInclusive"
    if doc_number:
        body["DocNumber"] = doc_number
    if due_date:
        body["DueDate"] = due_date.isoformat()
    return body


def _vendor_head(document: BillExport | VendorCreditExport) -> dict[str, Any]:
    """VendorRef, and APAccountRef where the vendor has its own payables account (QuickBooks France):
    without it QuickBooks credits its default payables account, not the vendor's."""
    head: dict[str, Any] = {"VendorRef": {"value": document.vendor_id}}
    if document.payables_account_id:
        head["APAccountRef"] = {"value": document.payables_account_id}
    return head


def _bill(bill: BillExport, key: str) -> dict[str, Any]:
    return _document(_vendor_head(bill), bill.doc_date, bill.currency, _account_lines(bill.lines),
                     _note(key, f"hub bill {bill.hub_id}", bill.memo), bill.doc_number, bill.due_date,
                     bill.amounts_include_tax)


def _vendor_credit(credit: VendorCreditExport, key: str) -> dict[str, Any]:
    return _document(_vendor_head(credit), credit.doc_date, credit.currency, _account_lines(credit.lines),
                     _note(key, f"hub vendor credit {credit.hub_id}", credit.memo), credit.doc_number,
                     amounts_include_tax=credit.amounts_include_tax)


def _account_lines(lines: tuple[LineExport, ...]) -> list[dict[str, Any]]:
    return [_line(line.amount, "AccountBasedExpenseLineDetail",
                  _class({"AccountRef": {"value": line.account_id}}, line.class_id, line.tax_code_id),
                  line.description)
            for line in lines]


# A bank entry's or expense report's party: Purchase.EntityRef and a deposit line's Entity name its type.
_ENTITY_TYPES = {"vendor": "Vendor", "customer": "Customer"}


def _bank_entry(entry: BankEntryExport, key: str) -> dict[str, Any]:
    """Money out: a Purchase paid in cash from the bank account (AccountRef), the counterparts as expense
    lines; money in: a Deposit to the bank account, each line crediting its counterpart account. Neither takes a
    JournalCodeRef: QuickBooks France books them in the journal of their type."""
    note = _note(key, f"hub bank entry {entry.hub_id}", entry.memo)
    party = ({"value": entry.party_id, "type": _ENTITY_TYPES[entry.party_kind]}
             if entry.party_id and entry.party_kind else None)
    if entry.direction == "out":
        head: dict[str, Any] = {"PaymentType": "Cash", "AccountRef": {"value": entry.bank_account_id}}
        if party:
            head["EntityRef"] = party
        return _document(head, entry.doc_date, entry.currency, _account_lines(entry.lines), note, entry.doc_number,
                         amounts_include_tax=entry.amounts_include_tax)
    lines = []
    for line in entry.lines:
        detail = _class({"AccountRef": {"value": line.account_id}}, line.class_id, line.tax_code_id)
        if party:
            detail["Entity"] = party
        lines.append(_line(line.amount, "DepositLineDetail", detail, line.description))
    return _document({"DepositToAccountRef": {"value": entry.bank_account_id}}, entry.doc_date, entry.currency,
                     lines, note, entry.doc_number, amounts_include_tax=entry.amounts_include_tax)


def _expense_report(report: ExpenseReportExport, key: str) -> dict[str, Any]:
    """Paid by the company from its bank account: a Purchase to the payee; otherwise a Bill the payee is owed."""
    note = _note(key, f"hub expense report {report.hub_id}", report.memo)
    if report.bank_account_id:
        head = {"PaymentType": "Cash", "AccountRef": {"value": report.bank_account_id},
                "EntityRef": {"value": report.payee_id, "type": "Vendor"}}
    else:
        head = {"VendorRef": {"value": report.payee_id}}
    return _document(head, report.doc_date, report.currency, _account_lines(report.lines), note, report.doc_number,
                     amounts_include_tax=report.amounts_include_tax)


def _bill_payment(payment: BillPaymentExport, key: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "VendorRef": {"value": payment.vendor_id},
        "TxnDate": payment.payment_date.isoformat(),
        "CurrencyRef": {"value": payment.currency},
        "PayType": "Check",
        "CheckPayment": {"BankAccountRef": {"value": payment.bank_account_id}},
        "TotalAmt": payment.amount,
        "Line": [
            {"Amount": applied.amount, "LinkedTxn": [{"TxnId": applied.document_external_id, "TxnType": "Bill"}]}
            for applied in payment.applied
        ],
        "PrivateNote": _note(key, f"hub payment {payment.hub_id}", payment.reference),
    }
    if payment.payables_account_id:  # the account the vendor's bills credited (QuickBooks France)
        body["APAccountRef"] = {"value": payment.payables_account_id}
    return body


def _sales_lines(lines: tuple[SalesLineExport, ...]) -> list[dict[str, Any]]:
    built = []
    for line in lines:
        detail: dict[str, Any] = {"ItemRef": {"value": line.item_id}}
        if line.quantity is not None:
            detail["Qty"] = line.quantity
        if line.unit_price is not None:
            detail["UnitPrice"] = line.unit_price
        built.append(_line(line.amount, "SalesItemLineDetail", _class(detail, line.class_id, line.tax_code_id),
                           line.description))
    return built


def _invoice(invoice: InvoiceExport, key: str) -> dict[str, Any]:
    return _document({"CustomerRef": {"value": invoice.customer_id}}, invoice.doc_date, invoice.currency,
                     _sales_lines(invoice.lines), _note(key, f"hub invoice {invoice.hub_id}", invoice.memo),
                     invoice.doc_number, invoice.due_date, invoice.amounts_include_tax)


def _credit_memo(credit_note: CreditNoteExport, key: str) -> dict[str, Any]:
    return _document({"CustomerRef": {"value": credit_note.customer_id}}, credit_note.doc_date, credit_note.currency,
                     _sales_lines(credit_note.lines), _note(key, f"hub credit note {credit_note.hub_id}",
                                                            credit_note.memo), credit_note.doc_number,
                     amounts_include_tax=credit_note.amounts_include_tax)


def _sales_receipt(receipt: SalesReceiptExport, key: str) -> dict[str, Any]:
    body = _document({"CustomerRef": {"value": receipt.customer_id}}, receipt.doc_date, receipt.currency,
                     _sales_lines(receipt.lines), _note(key, f"hub sales receipt {receipt.hub_id}", receipt.memo),
                     receipt.doc_number, amounts_include_tax=receipt.amounts_include_tax)
    if receipt.deposit_account_id:
        body["DepositToAccountRef"] = {"value": receipt.deposit_account_id}
    return body


def _customer_payment(payment: CustomerPaymentExport, key: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "CustomerRef": {"value": payment.customer_id},
        "TxnDate": payment.payment_date.isoformat(),
        "CurrencyRef": {"value": payment.currency},
        "TotalAmt": payment.amount,
        "Line": [
            {"Amount": applied.amount, "LinkedTxn": [{"TxnId": applied.document_external_id, "TxnType": "Invoice"}]}
            for applied in payment.applied
        ],
        "PrivateNote": _note(key, f"hub payment {payment.hub_id}", payment.reference),
    }
    if payment.deposit_account_id:
        body["DepositToAccountRef"] = {"value": payment.deposit_account_id}
    if payment.receivables_account_id:  # the customer's own receivables account (QuickBooks France)
        body["ARAccountRef"] = {"value": payment.receivables_account_id}
    return body


def _journal_entry(entry: JournalEntryExport, key: str) -> dict[str, Any]:
    # QuickBooks France keeps the journal on each line (JournalEntryLineDetail.JournalCodeRef, Intuit's
    # Finance.xsd); bills, invoices and the other documents go to the journal of their type.
    journal = {"JournalCodeRef": {"value": entry.journal_code_id}} if entry.journal_code_id else {}
    lines = [_line(line.amount, "JournalEntryLineDetail",
                   _class({"PostingType": line.posting_type, "AccountRef": {"value": line.account_id}, **journal},
                          line.class_id),
                   line.description)
             for line in entry.lines]
    return _document({}, entry.doc_date, entry.currency, lines,
                     _note(key, f"hub journal entry {entry.hub_id}", entry.memo), entry.doc_number)


def _attachable(attachment: AttachmentExport, key: str) -> dict[str, Any]:
    return {
        "FileName": attachment.file_name,
        "ContentType": attachment.content_type,
        "AttachableRef": [{"EntityRef": dict(zip(("type", "value"), split_external_id(
            attachment.document_kind, attachment.document_external_id)))}],
        "Note": _note(key, f"hub attachment {attachment.hub_id}", None),
    }


_BUILDERS = {"vendor": _party, "customer": _party, "bill": _bill, "bill_payment": _bill_payment,
             "invoice": _invoice, "credit_note": _credit_memo, "sales_receipt": _sales_receipt,
             "customer_payment": _customer_payment,
             "journal_entry": _journal_entry, "vendor_credit": _vendor_credit, "bank_entry": _bank_entry,
             "expense_report": _expense_report, "attachment": _attachable}


def _note(key: str, origin: str, memo: str | None) -> str:
    """Our key first, so a long memo can never push it out of QuickBooks' 4000 characters."""
    note = f"{KEY_PREFIX} {key} ({origin})"
    return f"{note}\n{memo}"[:PRIVATE_NOTE_MAX] if memo else note


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _qbo_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
