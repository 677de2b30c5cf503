"""Entries with everything the FEC asks for, built in memory, for the FEC, IIF and Sage 50 tests."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledgerbridge.entryfiles import Entry, EntryLine, Side


def purchase(number: str = "7", *, day: date = date(2025, 3, 31), validated: date | None = None,
             amount: str = "746.07", vendor_name: str = "Søren & Müller, Grüße", reference: str = "F-2025-0042",
             currency: str = "", foreign: str | None = None, source: str | None = None) -> Entry:
    """A bill: the vendor's payable credited, one expense debited."""
    foreign_amount = Decimal(foreign) if foreign is not None else None
    return Entry(source or f"bill {number}", "ACH", day, reference, (
        EntryLine("401000", Side.CREDIT, Decimal(amount), f"{vendor_name} {reference}", "V-7", "Fournisseurs",
                  vendor_name, foreign_amount),
        EntryLine("601000", Side.DEBIT, Decimal(amount), "Café «crème» et thé", account_label="Achats stockés",
                  foreign_amount=foreign_amount),
    ), number=number, journal_label="Journal des achats", validated_on=validated, currency=currency)


def accrual(number: str = "12", *, day: date = date(2025, 4, 1)) -> Entry:
    """A journal entry of three lines with amounts a float would spoil."""
    return Entry(f"journal entry {number}", "OD", day, f"JE-{number}", (
        EntryLine("408100", Side.DEBIT, Decimal("75632761.01"), "Facture non parvenue", account_label="FNP"),
        EntryLine("445660", Side.DEBIT, Decimal("0.10"), "TVA déductible", account_label="TVA sur ABS"),
        EntryLine("401000", Side.CREDIT, Decimal("75632761.11"), "Régularisation", "V-ø", "Fournisseurs", "Søren"),
    ), number=number, journal_label="Opérations diverses", reference_date=date(2025, 3, 15),
        validated_on=date(2025, 4, 2))
