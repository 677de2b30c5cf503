"""Ledger documents built in memory (no database) for the entry-file tests."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledgerbridge.entryfiles import EntryConfig
from ledgerbridge.ledger.models import Document, DocumentLine, Party, PartyLink

ENTITY = "acme_fr"
CONFIG = EntryConfig(payables_account="401000", receivables_account="411000", currency="EUR")


def vendor(hub_id: str = "V-7", name: str = "Société Générale d'Électricité", linked_to: str | None = None) -> Party:
    party = Party(entity_id=ENTITY, kind="vendor", hub_id=hub_id, name=name)
    if linked_to:
        party.link = PartyLink(entity_id=ENTITY, external_id=linked_to, status="linked", method="person")
    return party


def bill(*amounts: str, total: str | None = None, party: Party | None = None, hub_id: str = "B-1001",
         doc_number: str | None = "F-2025-0042", currency: str = "EUR", with_vendor: bool = True) -> Document:
    lines = [DocumentLine(line_no=n, amount=Decimal(amount), account_code=f"60{n}000",
                          description=f"Dépense {n}") for n, amount in enumerate(amounts, start=1)]
    total = Decimal(total) if total is not None else sum((Decimal(a) for a in amounts), Decimal(0))
    return Document(id=1, entity_id=ENTITY, kind="bill", hub_id=hub_id, doc_number=doc_number,
                    doc_date=date(2025, 3, 31), currency=currency, total=total, status="approved",
                    party=(party or vendor()) if with_vendor else None, lines=lines)


def journal_entry(*lines: tuple[str, str, str], party: Party | None = None, hub_id: str = "JE-9") -> Document:
    """lines: (account, posting type, amount)."""
    document_lines = [DocumentLine(line_no=n, account_code=account, posting_type=posting, amount=Decimal(amount),
                                   description=f"Écriture {n}") for n, (account, posting, amount) in enumerate(lines, 1)]
    return Document(id=2, entity_id=ENTITY, kind="journal_entry", hub_id=hub_id, doc_number=None,
                    doc_date=date(2025, 4, 1), currency="EUR", total=Decimal(0), status="approved",
                    memo="Régularisation", party=party, lines=document_lines)


def sample_rows():
    """A bill and a journal entry with amounts a float would spoil and labels beyond ASCII."""
    from ledgerbridge.entryfiles import document_entry, rows_for

    purchase = bill("746.07", "0.10", "9999999999.99", party=vendor("V-ø", "Søren & Müller, Grüße"))
    purchase.lines[0].description = "Café; «crème» et thé, \"spécial\""
    accrual = journal_entry(("408100", "debit", "75632761.01"), ("401000", "credit", "75632761.01"),
                            party=vendor("V-ø", "Søren & Müller, Grüße"))
    return rows_for([document_entry(purchase, CONFIG, ["facture-été.pdf", "reçu ø.png"]),
                     document_entry(accrual, CONFIG)])


def customer(hub_id: str = "C-3", name: str = "Boulangerie Müller") -> Party:
    return Party(entity_id=ENTITY, kind="customer", hub_id=hub_id, name=name)


def sale(kind: str, *lines: tuple[str | None, str, str | None], total: str | None = None, hub_id: str = "I-1",
         party: Party | None = None, with_customer: bool = True) -> Document:
    """An invoice, credit note or sales receipt; lines: (item, net amount, tax code)."""
    document_lines = [DocumentLine(line_no=n, item_code=item, amount=Decimal(amount), tax_code=tax,
                                   description=f"Vente {n}") for n, (item, amount, tax) in enumerate(lines, start=1)]
    return Document(id=3, entity_id=ENTITY, kind=kind, hub_id=hub_id, doc_number=f"N-{hub_id}",
                    doc_date=date(2025, 4, 2), currency="EUR", total=Decimal(total), status="approved",
                    party=(party or customer()) if with_customer else None, lines=document_lines)


def vendor_credit(*amounts: str, hub_id: str = "VC-1") -> Document:
    document = bill(*amounts, hub_id=hub_id, doc_number=f"A-{hub_id}")
    document.kind = "vendor_credit"
    return document


def bank_entry(direction: str, *lines: tuple[str, str], party: Party | None = None, hub_id: str = "BQ-1",
               bank_account: str | None = "512000") -> Document:
    """lines: (counterpart account, amount); money out posts them as debits, money in as credits."""
    posting = "debit" if direction == "out" else "credit"
    document_lines = [DocumentLine(line_no=n, account_code=account, amount=Decimal(amount), posting_type=posting)
                      for n, (account, amount) in enumerate(lines, start=1)]
    return Document(id=4, entity_id=ENTITY, kind="bank_entry", hub_id=hub_id, doc_number=None,
                    doc_date=date(2025, 4, 3), currency="EUR",
                    total=sum((line.amount for line in document_lines), Decimal(0)), status="approved",
                    memo="Virement", party=party, bank_account=bank_account, lines=document_lines)


def expense_report(*amounts: str, bank_account: str | None = None, hub_id: str = "NDF-1") -> Document:
    document_lines = [DocumentLine(line_no=n, account_code=f"62{n}000", amount=Decimal(amount),
                                   description=f"Frais {n}") for n, amount in enumerate(amounts, start=1)]
    return Document(id=5, entity_id=ENTITY, kind="expense_report", hub_id=hub_id, doc_number=hub_id,
                    doc_date=date(2025, 4, 4), currency="EUR",
                    total=sum((Decimal(a) for a in amounts), Decimal(0)), status="approved",
                    party=vendor("E-1", "Jeanne Dupont"), bank_account=bank_account, lines=document_lines)
