"""Entries and the rows of an entry file: the plain data, and the checks every entry must pass.

An entry is one accounting document (a bill, a journal entry) as balanced lines on accounts. Its
rows are what a file holds, one per line, in the documented column layout (docs/entry-files.md).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from ledgerbridge.money import MoneyError, money_sum, to_money

CENT = Decimal("0.01")
# Several attachments share the one column; '|' is rare in file names and in no delimiter option.
ATTACHMENT_SEPARATOR = " | "
# The last two are empty in home currency: a foreign-currency line's amount in the document's currency
# and that currency's ISO code (the FEC's Montantdevise and Idevise).
COLUMNS = ("journal_code", "date", "account", "subsidiary_account", "label", "debit", "credit",
           "document_reference", "attachment_name", "foreign_amount", "currency")
CURRENCY_CODE = re.compile(r"[A-Z]{3}")
# Control characters break importers (and openpyxl refuses most of them); a label is one line of text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class EntryError(ValueError):
    """An entry that cannot go into a file; the message names the document and what is wrong."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source, self.problem = source, problem


class UnbalancedEntry(EntryError):
    def __init__(self, source: str, debits: Decimal, credits: Decimal) -> None:
        super().__init__(source, f"does not balance: debits {debits:.2f}, credits {credits:.2f} "
                                 f"(difference {debits - credits:.2f})")
        self.debits, self.credits = debits, credits


@dataclass(frozen=True)
class EntryLine:
    account: str
    side: Side
    amount: Decimal  # positive; the side says which column it goes in
    label: str = ""
    subsidiary_account: str = ""  # the vendor's or customer's account on AP/AR lines
    account_label: str = ""  # the account's name in the chart of accounts (FEC CompteLib)
    subsidiary_label: str = ""  # the vendor's or customer's name (FEC CompAuxLib)
    # In a foreign-currency entry: the line's amount in the document's currency (positive, as `amount`).
    foreign_amount: Decimal | None = None


@dataclass(frozen=True)
class Entry:
    source: str  # names the document in errors, e.g. "bill B-1001"
    journal_code: str
    entry_date: date
    reference: str  # the document reference every row carries
    lines: tuple[EntryLine, ...]
    attachment_names: tuple[str, ...] = ()
    number: str = ""  # the entry's number, unique in its journal (FEC EcritureNum); empty: the reference
    journal_label: str = ""  # the journal's name (FEC JournalLib)
    reference_date: date | None = None  # the supporting document's date (FEC PieceDate); None: entry_date
    validated_on: date | None = None  # when it was validated (FEC ValidDate); None: entry_date
    currency: str = ""  # ISO code of a foreign-currency entry's document (FEC Idevise); empty: home currency


@dataclass(frozen=True)
class EntryRow:
    """One row of an entry file, in COLUMNS order; exactly one of debit and credit is set."""

    journal_code: str
    entry_date: date
    account: str
    subsidiary_account: str
    label: str
    debit: Decimal | None
    credit: Decimal | None
    document_reference: str
    attachment_name: str
    foreign_amount: Decimal | None = None  # in a foreign-currency entry: the line's amount in `currency`
    currency: str = ""

    def __post_init__(self) -> None:
        # Rows built by hand (not by entry_rows) still cannot put a line on both sides or sign it.
        amounts = [amount for amount in (self.debit, self.credit) if amount is not None]
        if len(amounts) != 1 or amounts[0] <= 0:
            raise ValueError(f"row of {self.document_reference!r} on account {self.account!r}: exactly one of "
                             f"debit ({self.debit}) and credit ({self.credit}) must be set, and positive")

    def values(self) -> tuple:
        return (self.journal_code, self.entry_date, self.account, self.subsidiary_account, self.label,
                self.debit, self.credit, self.document_reference, self.attachment_name, self.foreign_amount,
                self.currency)


def clean_text(text: str | None) -> str:
    if text and text.isprintable() and "  " not in text and text[0] != " " and text[-1] != " ":
        return text  # already clean (printable text has no control character and no other space): fast path
    return " ".join(_CONTROL.sub(" ", text or "").split())


def checked_amount(source: str, where: str, amount: object) -> Decimal:
    """The amount to two decimals, exactly: a cent is never rounded away or invented."""
    try:
        value = to_money(amount, f"{where} amount")
    except MoneyError as exc:
        raise EntryError(source, str(exc)) from None
    if value <= 0:
        raise EntryError(source, f"{where} amount {value} must be positive (the side gives the sign)")
    if value != value.quantize(CENT):
        raise EntryError(source, f"{where} amount {value} has more than 2 decimal places")
    return value.quantize(CENT)


def _checked_line(entry: Entry, number: int, line: EntryLine, currency: str) -> EntryLine:
    where = f"line {number}"
    if not clean_text(line.account):
        raise EntryError(entry.source, f"{where} has no account")
    if line.side not in (Side.DEBIT, Side.CREDIT):
        raise EntryError(entry.source, f"{where} side {line.side!r} must be debit or credit")
    amount = checked_amount(entry.source, where, line.amount)
    return EntryLine(clean_text(line.account), Side(line.side), amount, clean_text(line.label),
                     clean_text(line.subsidiary_account), foreign_amount=_foreign_amount(entry, number, line, currency))


def entry_currency(entry: Entry) -> str:
    """The ISO code of a foreign-currency entry's document, '' for one in home currency."""
    currency = clean_text(entry.currency).upper()
    if currency and not CURRENCY_CODE.fullmatch(currency):
        raise EntryError(entry.source, f"currency {entry.currency!r} is not a 3-letter ISO code (FEC Idevise)")
    return currency


def _foreign_amount(entry: Entry, number: int, line: EntryLine, currency: str) -> Decimal | None:
    """Both or neither: a foreign entry's every line has its amount in the currency, a home one none."""
    if not currency:
        if line.foreign_amount is not None:
            raise EntryError(entry.source, f"line {number} has a foreign_amount (FEC Montantdevise) but the "
                                           "entry has no currency (FEC Idevise)")
        return None
    if line.foreign_amount is None:
        raise EntryError(entry.source, f"line {number} has no foreign_amount (FEC Montantdevise); every line "
                                       f"of an entry in {currency} needs one")
    return checked_amount(entry.source, f"line {number} foreign_amount (FEC Montantdevise)", line.foreign_amount)


def check_balanced(source: str, lines: Iterable[EntryLine]) -> None:
    lines = list(lines)
    debits = money_sum(line.amount for line in lines if line.side == Side.DEBIT)
    credits = money_sum(line.amount for line in lines if line.side == Side.CREDIT)
    if debits != credits:
        raise UnbalancedEntry(source, debits, credits)


def entry_rows(entry: Entry) -> list[EntryRow]:
    """The entry's rows, after checking it: accounts, positive two-decimal amounts, balance."""
    if not clean_text(entry.journal_code):
        raise EntryError(entry.source, "has no journal code")
    if not entry.lines:
        raise EntryError(entry.source, "has no lines")
    currency = entry_currency(entry)
    lines = [_checked_line(entry, number, line, currency) for number, line in enumerate(entry.lines, start=1)]
    check_balanced(entry.source, lines)
    attachments = ATTACHMENT_SEPARATOR.join(filter(None, map(clean_text, entry.attachment_names)))
    return [_row(entry, line, attachments, currency) for line in lines]


def _row(entry: Entry, line: EntryLine, attachments: str, currency: str) -> EntryRow:
    debit = line.amount if line.side == Side.DEBIT else None
    credit = line.amount if line.side == Side.CREDIT else None
    return EntryRow(clean_text(entry.journal_code), entry.entry_date, line.account, line.subsidiary_account,
                    line.label, debit, credit, clean_text(entry.reference), attachments, line.foreign_amount,
                    currency)


def rows_for(entries: Iterable[Entry]) -> list[EntryRow]:
    """Every entry's rows, in order; the first entry that fails stops the file (no partial file)."""
    return [row for entry in entries for row in entry_rows(entry)]
