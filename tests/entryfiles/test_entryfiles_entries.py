"""Documents to entries to rows: bills, journal entries, the balance rule and the other checks."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from entry_samples import CONFIG, ENTITY, bill, journal_entry, vendor
from ledgerbridge.entryfiles import (
    ATTACHMENT_SEPARATOR,
    Entry,
    EntryConfig,
    EntryError,
    EntryLine,
    EntryRow,
    Side,
    UnbalancedEntry,
    attachment_names_by_document,
    convert_documents,
    document_entry,
    entry_rows,
)
from ledgerbridge.ledger.models import Attachment, Base, LegalEntityRow
from sqlalchemy import create_engine
from sqlalchemy.orm import Session


def _entry(*lines: EntryLine) -> Entry:
    return Entry("bill B-1", "PUR", date(2025, 1, 2), "F-1", lines)


def test_a_bill_credits_the_vendor_payable_and_debits_each_expense_line():
    rows = entry_rows(document_entry(bill("100.00", "20.50"), CONFIG, ["facture.pdf", "bon de commande.pdf"]))
    payable, first, second = rows
    assert (payable.journal_code, payable.account, payable.subsidiary_account) == ("PUR", "401000", "V-7")
    assert (payable.debit, payable.credit) == (None, Decimal("120.50"))
    assert payable.label == "Société Générale d'Électricité F-2025-0042"
    assert [(r.account, r.debit, r.credit, r.label) for r in (first, second)] == [
        ("601000", Decimal("100.00"), None, "Dépense 1"), ("602000", Decimal("20.50"), None, "Dépense 2")]
    assert {(r.entry_date, r.document_reference) for r in rows} == {(date(2025, 3, 31), "F-2025-0042")}
    assert {r.attachment_name for r in rows} == {"facture.pdf" + ATTACHMENT_SEPARATOR + "bon de commande.pdf"}


def test_the_vendor_account_is_the_linked_id_when_a_link_was_decided():
    entry = document_entry(bill("10.00", party=vendor(linked_to="FOUR-0012")), CONFIG)
    assert entry.lines[0].subsidiary_account == "FOUR-0012"


def test_a_discount_line_is_a_credit_on_its_account_and_zero_lines_are_left_out():
    rows = entry_rows(document_entry(bill("100.00", "-15.00", "0.00"), CONFIG))
    assert [(r.account, r.debit, r.credit) for r in rows] == [
        ("401000", None, Decimal("85.00")), ("601000", Decimal("100.00"), None), ("602000", None, Decimal("15.00"))]


def test_a_journal_entry_exports_its_own_lines_on_the_od_journal():
    entry = journal_entry(("411000", "debit", "1200.00"), ("706000", "credit", "1000.00"),
                          ("445710", "credit", "200.00"), party=vendor("C-3", "Müller GmbH"))
    rows = entry_rows(document_entry(entry, CONFIG))
    assert [(r.journal_code, r.account, r.subsidiary_account, r.debit, r.credit) for r in rows] == [
        ("OD", "411000", "C-3", Decimal("1200.00"), None),  # the receivable carries the party's account
        ("OD", "706000", "", None, Decimal("1000.00")),
        ("OD", "445710", "", None, Decimal("200.00"))]
    assert {r.document_reference for r in rows} == {"JE-9"}, "the hub id stands in for a missing number"


def test_journal_codes_are_configurable():
    config = EntryConfig(payables_account="2000", purchases_journal="ACH", journal_entries_journal="MISC")
    assert document_entry(bill("5.00"), config).journal_code == "ACH"
    assert document_entry(journal_entry(("1", "debit", "1"), ("2", "credit", "1")), config).journal_code == "MISC"


def test_a_bill_whose_total_differs_from_its_lines_does_not_balance_and_says_so():
    with pytest.raises(UnbalancedEntry) as error:
        entry_rows(document_entry(bill("100.00", "20.00", total="110.00"), CONFIG))
    assert str(error.value) == "bill B-1001: does not balance: debits 120.00, credits 110.00 (difference 10.00)"
    assert (error.value.debits, error.value.credits) == (Decimal("120.00"), Decimal("110.00"))


def test_an_unbalanced_journal_entry_is_refused():
    entry = journal_entry(("512000", "debit", "50.00"), ("471000", "credit", "49.99"))
    with pytest.raises(UnbalancedEntry, match=r"journal entry JE-9: .*debits 50.00, credits 49.99"):
        entry_rows(document_entry(entry, CONFIG))


def test_every_row_has_one_positive_amount_on_one_side():
    rows = entry_rows(document_entry(journal_entry(
        ("512000", "debit", "-30.00"), ("471000", "credit", "-30.00"), ("580000", "debit", "0")), CONFIG))
    assert [(r.account, r.debit, r.credit) for r in rows] == [
        ("512000", None, Decimal("30.00")), ("471000", Decimal("30.00"), None)]
    assert all((r.debit is None) != (r.credit is None) for r in rows)
    assert all((r.debit or r.credit) > 0 for r in rows)


@pytest.mark.parametrize(("line", "problem"), [
    (EntryLine("601", Side.DEBIT, Decimal(0)), "line 1 amount 0 must be positive"),
    (EntryLine("601", Side.DEBIT, Decimal(-5)), "line 1 amount -5 must be positive"),
    (EntryLine("601", Side.DEBIT, Decimal("1.005")), "line 1 amount 1.005 has more than 2 decimal places"),
    (EntryLine("601", Side.DEBIT, 1.5), "is a float"),
    (EntryLine(" ", Side.DEBIT, Decimal(1)), "line 1 has no account"),
    (EntryLine("601", "both", Decimal(1)), "side 'both' must be debit or credit"),
])
def test_a_bad_line_is_refused_naming_the_document_and_the_line(line, problem):
    with pytest.raises(EntryError, match="^bill B-1: ") as error:
        entry_rows(_entry(line, EntryLine("401", Side.CREDIT, Decimal(1))))
    assert problem in str(error.value)


@pytest.mark.parametrize(("document", "problem"), [
    (bill("10.00", with_vendor=False), "bill B-1001: has no vendor"),
    (bill("10.00", currency="USD"), "bill B-1001: is in USD, the books in EUR, and has no exchange_rate: entry "
                                    "files have no exchange rates: give exchange_rate in the feed"),
    (journal_entry(("512000", "transfer", "1")), "journal entry JE-9: line 1 posting type 'transfer'"),
    (journal_entry((None, "debit", "1")), "journal entry JE-9: line 1 has no account code"),
])
def test_a_document_that_cannot_be_posted_is_refused_with_its_reason(document, problem):
    with pytest.raises(EntryError) as error:
        document_entry(document, CONFIG)
    assert str(error.value).startswith(problem)


def test_invoices_have_no_entry_file_layout_yet():
    invoice = bill("10.00")
    invoice.kind = "invoice"
    with pytest.raises(EntryError, match="invoice B-1001: invoice documents have no entry-file layout; only bill, journal_entry"):
        document_entry(invoice, CONFIG)


def test_a_bad_document_is_refused_and_the_others_still_convert():
    good, unbalanced, no_vendor = bill("10.00"), bill("10.00", total="9.00", hub_id="B-2"), \
        bill("1.00", hub_id="B-3", with_vendor=False)
    converted = convert_documents([good, unbalanced, no_vendor], CONFIG, {1: ["scan.pdf"]})
    assert [entry.source for entry in converted.entries] == ["bill B-1001"]
    assert converted.entries[0].attachment_names == ("scan.pdf",)
    assert [error.source for error in converted.refused] == ["bill B-2", "bill B-3"]


def test_attachment_names_are_read_per_document_without_their_contents():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(LegalEntityRow(id=ENTITY, name="Acme FR", base_currency="EUR", accounting_kind="entry_files",
                                   conn_id="none"))
        document = bill("10.00")
        document.id = None
        session.add(document)
        session.flush()
        for name in ("reçu.png", "facture.pdf"):
            session.add(Attachment(entity_id=ENTITY, document_id=document.id, file_name=name,
                                   content_type="application/pdf", size=1, sha256="0" * 64, content=b"x"))
        session.flush()
        names = attachment_names_by_document(session, ENTITY, [document.id, 999])
        assert names == {document.id: ["reçu.png", "facture.pdf"]}
        assert attachment_names_by_document(session, "other_entity", [document.id]) == {}


@pytest.mark.parametrize(("debit", "credit"), [("1.00", "1.00"), (None, None), ("-1.00", None), (None, "0")])
def test_a_row_has_exactly_one_positive_amount_even_when_built_by_hand(debit, credit):
    with pytest.raises(ValueError, match="exactly one of debit"):
        EntryRow("OD", date(2025, 1, 1), "512000", "", "", debit and Decimal(debit), credit and Decimal(credit),
                 "R-1", "")


def test_a_foreign_bill_with_its_rate_is_posted_in_home_currency_as_the_connector_posts_it():
    usd = bill("10.01", "10.01", "10.01", currency="USD")
    usd.exchange_rate = Decimal("1.5")
    rows = entry_rows(document_entry(usd, CONFIG))
    assert [(r.account, r.debit, r.credit, r.foreign_amount, r.currency) for r in rows] == [
        ("401000", None, Decimal("45.05"), Decimal("30.03"), "USD"),  # round(30.03 x 1.5)
        ("601000", Decimal("15.01"), None, Decimal("10.01"), "USD"),  # the cent of rounding
        ("602000", Decimal("15.02"), None, Decimal("10.01"), "USD"),
        ("603000", Decimal("15.02"), None, Decimal("10.01"), "USD")]
