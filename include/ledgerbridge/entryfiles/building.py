"""The one way to make an Entry from a document: its export payload (the export dataclass as plain
JSON, money as text), posted against the accountant's lists.

The entry-files connector builds each entry it writes with an `EntryBuilder` over the lists the
accountant's software exported (accounts must be in the chart, their names label the lines); the
`ledgerbridge entry-files` CLI builds the entries of any entity with one over no chart (any account,
labelled by its number) and the parties it read from the ledger (convert.py).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .entries import CENT, Entry, EntryError, EntryLine, Side

# kind -> (code -> row): rows with `name`, `active` and `raw` (the connector's ReferenceData).
Lists = Callable[[str], Mapping[str, Any]]
POSTING_TYPES = {"debit": Side.DEBIT, "credit": Side.CREDIT}


@dataclasses.dataclass(frozen=True)
class EntryRules:
    """What the entity's books say of entries: control accounts, the journal of each kind, the
    closed period, the home currency."""

    payables_account: str
    receivables_account: str | None
    journal: Callable[[str], str]  # record kind -> journal code, for a document naming none
    base_currency: str
    closed_through: date | None = None
    chart: str = ""  # where the chart of accounts comes from, named in a refusal; "": no chart, any account
    # What the source declared (its hub feed): journal code -> the journal's name, for JournalLib; and
    # (vendor | customer, its code in the books) -> the auxiliary account a hub party linked to it declared.
    journal_names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    auxiliary_accounts: Mapping[tuple[str, str], str] = dataclasses.field(default_factory=dict)


class EntryBuilder:
    """Entries from export payloads (bill, invoice, credit_note, sales_receipt, journal_entry,
    vendor_credit, bank_entry, expense_report), as the lists are when it is asked."""

    def __init__(self, rules: EntryRules, lists: Lists):
        self.rules = rules
        self.lists = lists

    def entry(self, kind: str, payload: dict[str, Any]) -> Entry:
        """The balanced entry of one exported document; EntryError names what is wrong."""
        source = f"{kind.replace('_', ' ')} {payload['hub_id']}"
        currency = payload.get("currency") or self.rules.base_currency
        rate = self._exchange_rate(source, currency, payload.get("exchange_rate"))
        journal = payload.get("journal_code_id") or self.rules.journal(kind)  # the document's, else its kind's
        day = date.fromisoformat(payload["doc_date"])
        closed = self.rules.closed_through
        if closed is not None and day <= closed:
            raise EntryError(source, f"is dated {day}, in the period the accountant closed through {closed} "
                                     "(entry_files.closed_through): date it after, or reopen the period")
        lines = _BUILDERS[kind](self, source, payload)
        if rate is not None:
            lines = _in_home_currency(source, lines, rate)
        return Entry(source=source, journal_code=journal, entry_date=day,
                     reference=payload.get("doc_number") or payload["hub_id"], lines=tuple(lines),
                     number=payload["hub_id"], journal_label=self._journal_label(source, journal),
                     currency=currency if rate is not None else "")

    def _exchange_rate(self, source: str, currency: str, rate: str | None) -> Decimal | None:
        """Home currency per unit of a foreign document's currency (the source's); None in home currency."""
        if currency == self.rules.base_currency:
            return None
        if rate is None:
            raise EntryError(source, f"is in {currency}, the books in {self.rules.base_currency}, and has no "
                                     "exchange_rate: entry files have no exchange rates: give exchange_rate in "
                                     "the feed")
        try:
            value = Decimal(rate)
        except InvalidOperation:
            value = Decimal(0)
        if not value.is_finite() or value <= 0:
            raise EntryError(source, f"exchange_rate {rate} of {currency} must be a positive number")
        return value

    def _journal_label(self, source: str, journal: str) -> str:
        """The journal's name: the one the source declared for it, else the accounting file's, else its code."""
        declared = self.rules.journal_names.get(journal)
        journals = self.lists("journal_code")
        if not journals:
            return declared or journal  # no journals list: the code names itself
        if journal not in journals:
            raise EntryError(source, f"journal {journal} is not among the accounting file's journals "
                                     f"({', '.join(sorted(journals))}): add it, or set entry_files.journals")
        return declared or journals[journal].name or journal

    def _account(self, source: str, number: str, where: str) -> tuple[str, str]:
        if not self.rules.chart:
            if not number:
                raise EntryError(source, f"{where} has no account code")
            return number, number
        account = self.lists("account").get(number)
        if account is None or not account.active:
            raise EntryError(source, f"{where}: account {number!r} is not in the chart of accounts "
                                     f"({self.rules.chart})")
        return number, account.name or number

    def _line(self, source: str, number: str, side: Side, amount: Decimal, label: str, where: str,
              party: tuple[str, str] = ("", "")) -> EntryLine:
        account, account_label = self._account(source, number, where)
        return EntryLine(account, side, amount, label, party[0], account_label, party[1])

    def _party(self, kind: str, code: str) -> tuple[str, str]:
        """(auxiliary account, its label) of the party the books know by `code`: the auxiliary account the hub
        party declared, else the one the accounting file's list gives it, else the code itself."""
        known = self.lists(kind).get(code)
        account = (self.rules.auxiliary_accounts.get((kind, code)) or getattr(known, "auxiliary_account", None)
                   or code)
        return account, (known.name if known and known.name else code)

    def _tax(self, source: str, code: str | None, amount: Decimal, where: str,
             includes_tax: bool, given: Decimal | None = None) -> tuple[Decimal, Decimal, str | None]:
        """(net, tax, tax account) of a line's amount under its tax code: the tax is taken out of an
        amount that includes it, or added to a net one, rounded half up to the cent; the source's own
        tax amount (`given`, checked against the rate before export) is taken as it is."""
        if not code:
            return amount, Decimal(0), None
        tax_code = self.lists("tax_code").get(code)
        if tax_code is None:
            raise EntryError(source, f"{where}: tax code {code!r} is not among the accounting file's tax codes")
        if given is not None:
            return (amount - given if includes_tax else amount), given, tax_code.raw["account"]
        rate = Decimal(tax_code.raw["rate"]) / 100
        if rate == 0:
            return amount, Decimal(0), None
        if includes_tax:
            net = (amount / (1 + rate)).quantize(CENT, ROUND_HALF_UP)
            return net, amount - net, tax_code.raw["account"]
        return amount, (amount * rate).quantize(CENT, ROUND_HALF_UP), tax_code.raw["account"]

    def _party_entry(self, source: str, payload: dict, *, party_kind: str, control: str | None, party_side: Side,
                     line_account: Callable[[dict, str], str]) -> list[EntryLine]:
        """A document against a party: one line per document line on its account (net), one per tax
        account, and the document's total (with the tax added on top of net lines) on the party's
        control account, on the other side: a total that is not its lines' leaves the entry unbalanced."""
        party = self._party(party_kind, payload[f"{party_kind}_id"])
        if not control:
            raise EntryError(source, f"has no {party_kind}s' control account to post the total on")
        return self._against(source, payload, control=control, control_side=party_side, control_party=party,
                             heading=" ".join(filter(None, (party[1], payload.get("doc_number")))),
                             line_account=line_account)

    def _against(self, source: str, payload: dict, *, control: str, control_side: Side, control_party: tuple[str, str],
                 heading: str, line_account: Callable[[dict, str], str],
                 line_party: tuple[str, str] = ("", "")) -> list[EntryLine]:
        """One line per document line on its account (net), one per tax account, on one side; the total (with the
        tax added on top of net lines) on `control` (a party's control account, a bank account), on the other.
        `line_party`: the auxiliary account of lines on a party's control account (a bank entry paying a vendor)."""
        other = Side.CREDIT if control_side == Side.DEBIT else Side.DEBIT
        controls = {self.rules.payables_account, self.rules.receivables_account}
        includes_tax = bool(payload.get("amounts_include_tax"))
        lines, taxes = [], {}
        for number, line in enumerate(payload["lines"], start=1):
            where = f"line {number}"
            given = line.get("tax_amount")
            net, tax, tax_account = self._tax(source, line.get("tax_code_id"), Decimal(line["amount"]), where,
                                              includes_tax, Decimal(given) if given is not None else None)
            label = line.get("description") or payload.get("memo") or heading
            account = line_account(line, where)
            lines.append(_signed(self._line, source, account, other, net, label, where,
                                 line_party if account in controls else ("", "")))
            if tax:
                taxes[tax_account] = taxes.get(tax_account, Decimal(0)) + tax
        for account, tax in taxes.items():
            lines.append(_signed(self._line, source, account, other, tax, f"TVA {heading}".strip(), "tax"))
        gross = Decimal(payload["total"]) + (Decimal(0) if includes_tax else sum(taxes.values(), Decimal(0)))
        lines.insert(0, _signed(self._line, source, control, control_side, gross, heading, "party", control_party))
        return [line for line in lines if line is not None]

    def _item_account(self, source: str) -> Callable[[dict, str], str]:
        def account(line: dict, where: str) -> str:
            item = self.lists("item").get(line["item_id"])
            if item is None:
                raise EntryError(source, f"{where}: item {line['item_id']!r} is not among the accounting file's items")
            return item.raw["income_account"]
        return account

    def _bill_lines(self, source: str, payload: dict) -> list[EntryLine]:
        return self._party_entry(source, payload, party_kind="vendor", control=self.rules.payables_account,
                                 party_side=Side.CREDIT, line_account=lambda line, where: line["account_id"])

    def _vendor_credit_lines(self, source: str, payload: dict) -> list[EntryLine]:
        """A bill reversed: the vendor's account debited, the expenses and their VAT credited."""
        return self._party_entry(source, payload, party_kind="vendor", control=self.rules.payables_account,
                                 party_side=Side.DEBIT, line_account=lambda line, where: line["account_id"])

    def _bank_entry_lines(self, source: str, payload: dict) -> list[EntryLine]:
        """Money out: the counterparts (and their deductible VAT) debited, the bank account credited the total;
        money in: the reverse. A vendor or customer named goes on the lines on its control account."""
        party = self._party(payload["party_kind"], payload["party_id"]) \
            if payload.get("party_kind") and payload.get("party_id") else ("", "")
        return self._against(source, payload, control=payload["bank_account_id"],
                             control_side=Side.CREDIT if payload["direction"] == "out" else Side.DEBIT,
                             control_party=("", ""), line_party=party,
                             heading=" ".join(filter(None, (party[1], payload.get("doc_number")))) or
                             payload.get("memo") or "",
                             line_account=lambda line, where: line["account_id"])

    def _expense_report_lines(self, source: str, payload: dict) -> list[EntryLine]:
        """The expenses and their VAT debited; the total credited to the bank account the company paid it from,
        else to the payee on the payables account (owed, as a bill)."""
        payee = self._party("vendor", payload["payee_id"])
        heading = " ".join(filter(None, (payee[1], payload.get("doc_number"))))
        if payload.get("bank_account_id"):
            return self._against(source, payload, control=payload["bank_account_id"], control_side=Side.CREDIT,
                                 control_party=("", ""), heading=heading,
                                 line_account=lambda line, where: line["account_id"])
        if not self.rules.payables_account:
            raise EntryError(source, "has no vendors' control account to post the total on")
        return self._against(source, payload, control=self.rules.payables_account, control_side=Side.CREDIT,
                             control_party=payee, heading=heading, line_account=lambda line, where: line["account_id"])

    def _sales_lines(self, source: str, payload: dict) -> list[EntryLine]:
        return self._party_entry(source, payload, party_kind="customer", control=self.rules.receivables_account,
                                 party_side=Side.DEBIT, line_account=self._item_account(source))

    def _credit_note_lines(self, source: str, payload: dict) -> list[EntryLine]:
        return self._party_entry(source, payload, party_kind="customer", control=self.rules.receivables_account,
                                 party_side=Side.CREDIT, line_account=self._item_account(source))

    def _journal_lines(self, source: str, payload: dict) -> list[EntryLine]:
        """The lines as keyed; a line on a control account carries the party's auxiliary account when
        the payload names one (`party_kind`, `party_id`: the CLI's, from the ledger)."""
        party = self._party(payload["party_kind"], payload["party_id"]) if payload.get("party_id") else ("", "")
        controls = {self.rules.payables_account, self.rules.receivables_account}
        lines = []
        for number, line in enumerate(payload["lines"], start=1):
            where = f"line {number}"
            side = POSTING_TYPES.get(str(line["posting_type"]).lower())
            if side is None:
                raise EntryError(source, f"{where} posting type {line['posting_type']!r} must be debit or credit")
            account = line["account_id"]
            lines.append(_signed(self._line, source, account, side, Decimal(line["amount"]),
                                 line.get("description") or payload.get("memo") or "", where,
                                 party if account in controls else ("", "")))
        return [line for line in lines if line is not None]


def _signed(make: Callable[..., EntryLine], source: str, account: str, side: Side, amount: Decimal, label: str,
            where: str, party: tuple[str, str] = ("", "")) -> EntryLine | None:
    """A negative amount (a discount line) goes on the other side; a zero one has nothing to post."""
    if amount == 0:
        return None
    if amount < 0:
        side, amount = (Side.CREDIT if side == Side.DEBIT else Side.DEBIT), -amount
    return make(source, account, side, amount, label, where, party)


def _in_home_currency(source: str, lines: list[EntryLine], rate: Decimal) -> list[EntryLine]:
    """A foreign document's lines in home currency: each amount times the rate, rounded half up to the
    cent, the document's amount kept as the line's foreign amount. The party line (on an auxiliary
    account) is then round(total x rate), the home total of the document, and the rounding residue of
    the other lines goes on the largest of them, so that the entry balances to the cent."""
    home = [dataclasses.replace(line, amount=(line.amount * rate).quantize(CENT, ROUND_HALF_UP),
                                foreign_amount=line.amount) for line in lines]
    home = [line for line in home if line.amount]  # a few foreign cents may be nothing at home
    residue = sum((line.amount if line.side == Side.DEBIT else -line.amount for line in home), Decimal(0))
    if residue:
        others = [index for index, line in enumerate(home) if not line.subsidiary_account] or range(len(home))
        largest = max(others, key=lambda index: home[index].amount)
        line = home[largest]
        amount = line.amount - residue if line.side == Side.DEBIT else line.amount + residue
        if amount <= 0:  # only a rate far below a cent per unit gets here
            raise EntryError(source, f"exchange_rate {rate}: the lines in home currency round to nothing")
        home[largest] = dataclasses.replace(line, amount=amount)
    return home


_BUILDERS: dict[str, Callable[[EntryBuilder, str, dict], list[EntryLine]]] = {
    "bill": EntryBuilder._bill_lines,
    "invoice": EntryBuilder._sales_lines,
    "sales_receipt": EntryBuilder._sales_lines,
    "credit_note": EntryBuilder._credit_note_lines,
    "journal_entry": EntryBuilder._journal_lines,
    "vendor_credit": EntryBuilder._vendor_credit_lines,
    "bank_entry": EntryBuilder._bank_entry_lines,
    "expense_report": EntryBuilder._expense_report_lines,
}
def plain(value: Any) -> Any:
    """Decimals and dates as text, recursively: an export dataclass's `asdict` as its payload (JSON)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (Decimal, date)):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value
