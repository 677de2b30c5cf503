"""Documents to entries to rows: bills, journal entries, the balance rule and the other checks."""
from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from entry_samples import (
    CONFIG,
    ENTITY,
    bank_entry,
    bill,
    customer,
    expense_report,
    journal_entry,
    sale,
    vendor,
    vendor_credit,
)
from ledgerbridge.entryfiles import (
    ATTACHMENT_SEPARATOR,
    Entry,
    EntryConfig,
    EntryError,
    EntryLine,
    EntryRow,
    Side,
    TaxCode,
    UnbalancedEntry,
    attachment_names_by_document,
    convert_documents,
    default_party_code,
    document_entry,
    entry_rows,
    render_fec,
    validate_fec,
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


def test_the_vendor_account_is_the_declared_auxiliary_account_the_hub_s_first_then_the_mirror_s():
    linked = vendor(linked_to="FOUR-0012")
    mirrored = {("vendor", "FOUR-0012"): "401FOUR12"}
    assert default_party_code(linked) == "FOUR-0012"  # none declared: as before
    assert default_party_code(vendor()) == "V-7"
    assert default_party_code(linked, mirrored) == "401FOUR12"  # the mirror's, for the party it is linked to
    assert default_party_code(vendor(), mirrored) == "V-7"  # not linked: the mirror has nothing to say
    linked.auxiliary_account = "401ELEC"
    assert default_party_code(linked, mirrored) == "401ELEC"  # the hub party's own comes first
    config = dataclasses.replace(CONFIG, party_code=lambda party: default_party_code(party, mirrored),
                                 journal_names={"PUR": "Achats et frais généraux"})
    entry = document_entry(bill("10.00", party=linked), config)
    assert (entry.lines[0].subsidiary_account, entry.journal_label) == ("401ELEC", "Achats et frais généraux")
    assert document_entry(bill("10.00"), CONFIG).journal_label == "PUR"  # no journal declared: the code
    data = render_fec([entry])
    assert validate_fec(data).ok
    header, row = (line.split("\t") for line in data.decode("iso-8859-15").splitlines()[:2])
    fields = dict(zip(header, row))
    assert (fields["JournalLib"], fields["CompAuxNum"], fields["CompAuxLib"]) == (
        "Achats et frais généraux", "401ELEC", "Société Générale d'Électricité")


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
    (journal_entry(("512000", "transfer", "1")), "journal entry JE-9: line 1 posting type 'Transfer'"),
    (journal_entry((None, "debit", "1")), "journal entry JE-9: line 1 has no account code"),
])
def test_a_document_that_cannot_be_posted_is_refused_with_its_reason(document, problem):
    with pytest.raises(EntryError) as error:
        document_entry(document, CONFIG)
    assert str(error.value).startswith(problem)


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


SALES = EntryConfig(payables_account="401000", receivables_account="411000", currency="EUR",
                    income_account="706000", item_accounts={"PAIN": "701000"},
                    tax_codes={"TVA20": TaxCode(Decimal("20"), "445710"), "TVA5": TaxCode(Decimal("5.5"), "445712")})


def _lines(entry: Entry) -> list[tuple]:
    return [(r.account, r.subsidiary_account, r.debit, r.credit) for r in entry_rows(entry)]


def test_an_invoice_debits_the_customer_and_credits_each_items_income_account_and_the_vat_in_vt():
    invoice = sale("invoice", ("PAIN", "100.00", "TVA5"), ("GATEAU", "50.00", "TVA20"), total="150.00")
    entry = document_entry(invoice, SALES)
    assert entry.journal_code == "VT"
    assert _lines(entry) == [
        ("411000", "C-3", Decimal("165.50"), None),  # the total with the VAT on top of the net lines
        ("701000", "", None, Decimal("100.00")),  # its item's own account
        ("706000", "", None, Decimal("50.00")),  # the default income account
        ("445712", "", None, Decimal("5.50")), ("445710", "", None, Decimal("10.00"))]
    assert (entry.lines[0].label, entry.lines[0].subsidiary_label) == ("Boulangerie Müller N-I-1", "Boulangerie Müller")


def test_a_credit_note_and_a_sales_receipt_post_as_the_dag_posts_them_in_av_and_vc():
    credit = document_entry(sale("credit_note", ("PAIN", "40.00", None), total="40.00", hub_id="AV-1"), SALES)
    receipt = document_entry(sale("sales_receipt", ("PAIN", "12.00", "TVA20"), total="12.00", hub_id="R-1"), SALES)
    assert (credit.journal_code, receipt.journal_code) == ("AV", "VC")
    assert _lines(credit) == [("411000", "C-3", None, Decimal("40.00")), ("701000", "", Decimal("40.00"), None)]
    assert _lines(receipt) == [("411000", "C-3", Decimal("14.40"), None), ("701000", "", None, Decimal("12.00")),
                               ("445710", "", None, Decimal("2.40"))]


def test_a_vendor_credit_is_a_bill_reversed_in_the_purchases_journal():
    entry = document_entry(vendor_credit("30.00"), SALES)
    assert entry.journal_code == "PUR"
    assert _lines(entry) == [("401000", "V-7", Decimal("30.00"), None), ("601000", "", None, Decimal("30.00"))]


def test_a_bank_entry_goes_against_its_own_bank_account_in_bq_the_party_on_its_control_account():
    out = document_entry(bank_entry("out", ("401000", "480.00"), ("627000", "2.50"), party=vendor()), SALES)
    money_in = document_entry(bank_entry("in", ("411000", "1250.00"), party=customer(), hub_id="BQ-2",
                                         bank_account="512100"), SALES)
    assert (out.journal_code, money_in.journal_code) == ("BQ", "BQ")
    assert _lines(out) == [("512000", "", None, Decimal("482.50")), ("401000", "V-7", Decimal("480.00"), None),
                           ("627000", "", Decimal("2.50"), None)]
    assert _lines(money_in) == [("512100", "", Decimal("1250.00"), None), ("411000", "C-3", None, Decimal("1250.00"))]


def test_an_expense_report_is_owed_to_the_payee_or_paid_from_its_bank_in_ndf():
    owed = document_entry(expense_report("24.00", "15.50"), SALES)
    paid = document_entry(expense_report("24.00", bank_account="512000", hub_id="NDF-2"), SALES)
    assert (owed.journal_code, paid.journal_code) == ("NDF", "NDF")
    assert _lines(owed) == [("401000", "E-1", None, Decimal("39.50")), ("621000", "", Decimal("24.00"), None),
                            ("622000", "", Decimal("15.50"), None)]
    assert _lines(paid) == [("512000", "", None, Decimal("24.00")), ("621000", "", Decimal("24.00"), None)]


def test_every_kind_makes_one_fec_file_that_validates():
    documents = [bill("100.00"), vendor_credit("30.00"), journal_entry(("1", "debit", "1"), ("2", "credit", "1")),
                 sale("invoice", ("PAIN", "100.00", "TVA5"), total="100.00"),
                 sale("credit_note", ("PAIN", "40.00", None), total="40.00", hub_id="AV-1"),
                 sale("sales_receipt", ("PAIN", "12.00", "TVA20"), total="12.00", hub_id="R-1"),
                 bank_entry("out", ("401000", "480.00"), party=vendor()), expense_report("24.00")]
    converted = convert_documents(documents, SALES)
    assert converted.refused == []
    assert sorted({entry.journal_code for entry in converted.entries}) == ["AV", "BQ", "NDF", "OD", "PUR", "VC", "VT"]
    report = validate_fec(render_fec(converted.entries, separator="\t"))
    assert report.ok, report


def test_journals_are_configurable_per_kind():
    config = dataclasses.replace(SALES, journals={"invoice": "VE", "bank_entry": "BQ2"})
    assert document_entry(sale("invoice", ("PAIN", "1.00", None), total="1.00"), config).journal_code == "VE"
    assert document_entry(bank_entry("out", ("627000", "1.00")), config).journal_code == "BQ2"


def _foreign(document):
    document.currency = "USD"
    return document


def _void(document):
    document.status = "void"
    return document


@pytest.mark.parametrize(("document", "config", "problem"), [
    (sale("invoice", ("PAIN", "1.00", None), total="1.00", with_customer=False), SALES,
     "invoice I-1: has no customer; its entry needs the customer's account"),
    (sale("invoice", ("GATEAU", "1.00", None), total="1.00"), CONFIG,
     "invoice I-1: line 1: item 'GATEAU' has no income account: set income_account (--income-account) or "
     "item_accounts (--item-account GATEAU=ACCOUNT)"),
    (sale("credit_note", (None, "1.00", None), total="1.00"), CONFIG,
     "credit note I-1: line 1 has no item, and no income_account (--income-account) to post it on"),
    (sale("invoice", ("PAIN", "1.00", "TVA10"), total="1.00"), SALES,
     "invoice I-1: line 1: tax code 'TVA10' has no rate and account: set tax_codes (--tax-code TVA10=RATE:ACCOUNT)"),
    (sale("invoice", ("PAIN", "1.00", None), total="1.00"), EntryConfig(payables_account="401000", income_account="7"),
     "invoice I-1: has no customers' control account to post the total on"),
    (bank_entry("out", ("627000", "1.00"), bank_account=None), SALES, "bank entry BQ-1: has no bank account to post its total on"),
    (_foreign(sale("invoice", ("PAIN", "1.00", None), total="1.00")), SALES,
     "invoice I-1: is in USD, the books in EUR, and has no exchange_rate: entry files have no exchange rates: give "
     "exchange_rate in the feed"),
    (_void(expense_report("1.00")), SALES, "expense report NDF-1: is void; nothing to post"),
])
def test_a_document_of_a_new_kind_that_cannot_be_posted_says_why(document, config, problem):
    with pytest.raises(EntryError) as error:
        document_entry(document, config)
    assert str(error.value) == problem


def test_a_bad_sale_is_left_out_and_the_others_of_every_kind_still_convert():
    good, unbalanced = sale("invoice", ("PAIN", "10.00", None), total="10.00"), \
        sale("invoice", ("PAIN", "10.00", None), total="9.00", hub_id="I-2")
    converted = convert_documents([good, unbalanced, bank_entry("in", ("706000", "5.00"))], SALES)
    assert [entry.source for entry in converted.entries] == ["invoice I-1", "bank entry BQ-1"]
    assert [str(error) for error in converted.refused] == [
        "invoice I-2: does not balance: debits 9.00, credits 10.00 (difference -1.00)"]
