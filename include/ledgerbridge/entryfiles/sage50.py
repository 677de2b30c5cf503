"""Sage 50 Accounts (UK): entries as nominal journals in the "audit trail transactions" import CSV.

Layout, from Sage's knowledge base article on the audit trail transactions import (gb-kb.sage.com,
article 250321114601443, columns A to O): Transaction Type (JD journal debit, JC journal credit),
Account (customer/supplier/bank reference, optional for JD and JC), Nominal Code (text, 8), Department
(0-999), Date (DD/MM/YYYY), Reference (text, 30), Details (text, 60), Net (8 digits + 2 decimals),
T/C (T0 to T99), Tax (8 digits + 2 decimals), then the "extended" columns Exchange Rate, Ex.Ref
(text, 30), User Name (text, 32), Project Reference (12) and Cost Code Reference (8). The header row
uses the names of Sage's import template ("Audit Trail Transaction Full Template").

Journal rows carry T9 (Sage's code for transactions outside the scope of VAT) and no VAT. Journals
post to nominal codes only, so the Account column stays empty and the vendor's or customer's code
goes to Extra Reference, where it is kept for the accountant. An entry is the consecutive rows of one
Reference and Date; it must balance (JD total = JC total), which also balances any coarser grouping
Sage may apply. Sage 50 is a Windows program: the file is Windows-1252 with CRLF line ends.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from .entries import CENT, Entry, EntryError, Side, entry_currency, entry_rows
from .validation import MAX_PROBLEMS, EntryBalances, ValidationReport, decoded_lines

SAGE50_COLUMNS = ("Type", "Account Reference", "Nominal A/C Ref", "Department Code", "Date", "Reference",
                  "Details", "Net Amount", "Tax Code", "Tax Amount", "Exchange Rate", "Extra Reference",
                  "User Name", "Project Refn", "Cost Code Refn")
JOURNAL_TYPES = {Side.DEBIT: "JD", Side.CREDIT: "JC"}
JOURNAL_TAX_CODE = "T9"
SAGE50_ENCODING = "cp1252"
MAX_NET = Decimal("100000000")  # 8 digits before the decimal point
LENGTHS = {"Nominal A/C Ref": 8, "Reference": 30, "Details": 60, "Extra Reference": 30}
_AMOUNT = re.compile(r"\d{1,8}(?:\.\d{1,2})?")
_TAX_CODE = re.compile(r"T\d{1,2}")
# Sage 50 takes an exchange rate on customer and supplier transactions only; a nominal journal (JD/JC)
# is in base currency, and the layout has no column for the document's own amount.
NO_CURRENCY = ("Sage 50 journals (JD/JC) are in base currency only and the layout has no column for the "
               "document's currency; write this entity's files as fec, csv or xlsx, or post it in Sage 50")


def render_sage50(entries: Iterable[Entry]) -> bytes:
    """One JD or JC row per entry line, checked by `entry_rows` first.

    Refused (EntryError naming the entry, the line and the column): a nominal code over 8 characters,
    a reference or vendor code over 30, an amount of 10^8 or more, a character Windows-1252 lacks.
    Details over 60 characters are cut to 60, the length Sage keeps.
    """
    blocks = []
    for entry in entries:
        if entry_currency(entry):
            raise EntryError(entry.source, f"is in {entry_currency(entry)}: {NO_CURRENCY}")
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        for number, row in enumerate(entry_rows(entry), start=1):
            amount = row.debit if row.debit is not None else row.credit
            fields = {"Nominal A/C Ref": row.account, "Reference": row.document_reference,
                      "Details": row.label[:LENGTHS["Details"]], "Extra Reference": row.subsidiary_account}
            _check_fields(entry, number, fields, amount)
            writer.writerow([JOURNAL_TYPES[Side.DEBIT if row.debit is not None else Side.CREDIT], "",
                             fields["Nominal A/C Ref"], "0", row.entry_date.strftime("%d/%m/%Y"),
                             fields["Reference"], fields["Details"], f"{amount.quantize(CENT):f}",
                             JOURNAL_TAX_CODE, "0.00", "", fields["Extra Reference"], "", "", ""])
        blocks.append(text.getvalue().encode(SAGE50_ENCODING, errors="strict"))
    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow(SAGE50_COLUMNS)
    return b"".join([header.getvalue().encode(SAGE50_ENCODING), *blocks])


def _check_fields(entry: Entry, number: int, fields: dict[str, str], amount: Decimal) -> None:
    for column, value in fields.items():
        if len(value) > LENGTHS[column]:
            raise EntryError(entry.source, f"line {number} {column} {value!r} is longer than the "
                                           f"{LENGTHS[column]} characters Sage 50 takes")
        try:
            value.encode(SAGE50_ENCODING)
        except UnicodeEncodeError as exc:
            raise EntryError(entry.source, f"line {number} {column} {value!r}: {value[exc.start]!r} is not in "
                                           "Windows-1252, which Sage 50 reads") from None
    if amount >= MAX_NET:
        raise EntryError(entry.source, f"line {number} Net Amount {amount} has more than the 8 digits before "
                                       "the decimal point Sage 50 takes")


def validate_sage50(data: bytes, *, max_problems: int = MAX_PROBLEMS) -> ValidationReport:
    """Read a Sage 50 journal import back: header, JD/JC rows, formats and lengths, each entry
    (consecutive rows of one Reference and Date) balanced."""
    report = ValidationReport(max_problems=max_problems)
    balances = EntryBalances(report, _describe, amount_column="Net Amount", date_column="Date")
    rows = csv.reader(decoded_lines(data, SAGE50_ENCODING))
    try:
        header = next(rows, None)
        if header is None:
            report.add(None, None, "the file is empty; it starts with the header row")
        elif tuple(header) != SAGE50_COLUMNS:
            report.add(1, None, f"the header must be {','.join(SAGE50_COLUMNS)}")
        for cells in rows:
            _check_row(report, balances, rows.line_num, cells)
    except UnicodeDecodeError as exc:
        report.add(None, None, f"is not Windows-1252 (byte {exc.object[exc.start]:#04x}); reading stopped")
    except csv.Error as exc:
        report.add(rows.line_num, None, f"is not CSV: {exc}; reading stopped")
    balances.finish()
    report.finish()
    return report


def _check_row(report: ValidationReport, balances: EntryBalances, line: int, cells: list[str]) -> None:
    if len(cells) != len(SAGE50_COLUMNS):
        report.add(line, None, f"has {len(cells)} columns instead of {len(SAGE50_COLUMNS)}")
        return
    row = dict(zip(SAGE50_COLUMNS, (cell.strip() for cell in cells), strict=True))
    if row["Type"] not in ("JD", "JC"):
        report.add(line, "Type", f"{row['Type']!r} is not JD or JC; this layout holds journals only")
    if not row["Nominal A/C Ref"]:
        report.add(line, "Nominal A/C Ref", "is empty; a journal posts to a nominal code")
    for column, length in LENGTHS.items():
        if len(row[column]) > length:
            report.add(line, column, f"is longer than the {length} characters Sage 50 takes")
    if row["Department Code"] and not (row["Department Code"].isdigit() and int(row["Department Code"]) <= 999):
        report.add(line, "Department Code", f"{row['Department Code']!r} is not a number from 0 to 999")
    day = _day(row["Date"])
    if day is None:
        report.add(line, "Date", f"{row['Date']!r} is not a date as DD/MM/YYYY")
    if not _TAX_CODE.fullmatch(row["Tax Code"]):
        report.add(line, "Tax Code", f"{row['Tax Code']!r} is not a tax code T0 to T99")
    if row["Tax Amount"] and not _AMOUNT.fullmatch(row["Tax Amount"]):
        report.add(line, "Tax Amount", f"{row['Tax Amount']!r} is not an amount (1234.56)")
    net = row["Net Amount"]
    if not _AMOUNT.fullmatch(net) or Decimal(net) == 0:
        report.add(line, "Net Amount", f"{net!r} is not a positive amount of up to 8 digits, a decimal point and "
                                       "two decimals, without thousands separator (1234.56)")
        return
    if day is not None and row["Type"] in ("JD", "JC"):
        amount = Decimal(net)
        debit, credit = (amount, Decimal(0)) if row["Type"] == "JD" else (Decimal(0), amount)
        balances.add(line, f"{row['Reference']}\x1f{day}", debit, credit)


def _day(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%d/%m/%Y").date() if len(text) == 10 else None
    except ValueError:
        return None


def _describe(key: str) -> str:
    reference, day = key.split("\x1f")
    return f"journal {reference!r} of {day}"
