"""Suite `documents`: each expectation fails and passes, a mixed batch of 1,000, the systemic threshold."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from ledgerbridge.quality import DocumentParams, check, documents, format_table
from quality_samples import (
    DOC_DATE,
    TAKEN,
    bank_entry,
    bill,
    credit_note,
    expense_report,
    invoice,
    journal_entry,
    line,
    mixed_batch,
)

PARAMS = DocumentParams(currency="USD", allowed_currencies={"CAD", "MXN"}, doc_number_required=True,
                        taken_numbers=TAKEN, enabled_currencies={"USD", "CAD", "EUR"})


@dataclass(frozen=True)
class Case:
    id: str
    expectation: str
    bad: object  # key -> record, or list of records (the last is the one that must fail)
    fails: frozenset  # every expectation the bad record fails
    field: str
    problem: str
    value: object
    good: object  # key -> record, or list (all must pass)


def case(expectation, bad, fails, field, problem, value, good, id=None):
    return Case(id or expectation, expectation, bad, frozenset(fails), field, problem, value, good)


def one_line(key, amount, **changes):
    return bill(key, total=D(amount), lines=[{"line_no": 1, "amount": D(amount), "account_code": "6000",
                                              "account_resolved": True}], **changes)


def taxed(key, tax_amount, amounts_include_tax=False, **line_changes):
    """A bill whose first line (100.00) carries INPUT at 15% and the source's tax amount."""
    changes = {"tax_code": "INPUT", "tax_code_resolved": True, "tax_rate": D("15"), "tax_amount": D(tax_amount),
               **line_changes}
    return line(bill(key, amounts_include_tax=amounts_include_tax), 1, **changes)


CASES = [
    case("kind_known", lambda k: bill(k, kind="purchase_order"), {"kind_known"},
         "kind", "not a document kind the suite knows", "purchase_order", credit_note),
    case("bank_account_resolves", lambda k: bank_entry(k, bank_account="5999", bank_account_resolved=False,
                                                       bank_account_type=None),
         {"bank_account_resolves"}, "bank_account",
         "no active account with this number or name in the accounting system's chart", "5999", bank_entry),
    case("bank_account_resolves", lambda k: bank_entry(k, bank_account=None), {"bank_account_resolves"},
         "bank_account", "missing", None, expense_report, id="bank_account_missing"),
    case("bank_account_resolves", lambda k: expense_report(k, bank_account="5999", bank_account_resolved=False),
         {"bank_account_resolves"}, "bank_account",
         "no active account with this number or name in the accounting system's chart", "5999",
         lambda k: expense_report(k, bank_account="1000", bank_account_resolved=True, bank_account_type="Bank"),
         id="bank_account_resolves_expense_report"),
    case("bank_account_is_bank", lambda k: bank_entry(k, bank_account="6000", bank_account_type="Expense"),
         {"bank_account_is_bank"}, "bank_account",
         "account 6000 is of type Expense, not Bank: money is paid from and deposited to a bank account", "6000",
         bank_entry),
    case("party_linked", lambda k: bank_entry(k, party_kind="customer", party=f"C-{k}", party_linked=False),
         {"party_linked"}, "customer", "customer C-party_linked_bank_entry-bad is not linked to a customer of the "
         "accounting system: link it, or allow create_missing_customers", "C-party_linked_bank_entry-bad",
         lambda k: bank_entry(k, party=None, party_kind=None, party_linked=False), id="party_linked_bank_entry"),
    case("doc_date_present", lambda k: bill(k, doc_date=None), {"doc_date_present"}, "doc_date", "missing", None, bill),
    case("party_linked", lambda k: bill(k, party_linked=False), {"party_linked"}, "vendor",
         "vendor V-party_linked-bad is not linked to a vendor of the accounting system: link it, or allow "
         "create_missing_vendors", "V-party_linked-bad", bill),
    case("party_linked", lambda k: invoice(k, party=None, party_linked=False), {"party_linked"}, "customer",
         "the invoice has no customer", None, invoice, id="party_linked_no_party"),
    case("party_linked", lambda k: credit_note(k, party_linked=False), {"party_linked"}, "customer",
         "customer C-party_linked_credit_note-bad is not linked to a customer of the accounting system: link it, or "
         "allow create_missing_customers", "C-party_linked_credit_note-bad", credit_note,
         id="party_linked_credit_note"),
    case("party_linked", lambda k: bill(k, party_linked=False, party_problem="vendor V-9 'Acme' is in review"),
         {"party_linked"}, "vendor", "vendor V-9 'Acme' is in review", "V-party_linked_problem-bad", bill,
         id="party_linked_problem"),
    case("has_lines", lambda k: bill(k, lines=[]), {"has_lines"}, "lines", "the bill has no lines", None,
         lambda k: one_line(k, "120.00")),
    case("total_present", lambda k: bill(k, total=None), {"total_present"}, "total", "missing", None, bill),
    case("total_positive", lambda k: one_line(k, "-10.00"), {"total_positive", "line_amount_positive"},
         "total", "must be positive", D("-10.00"), lambda k: one_line(k, "0.01")),
    case("total_precision", lambda k: line(bill(k, total=D("120.001")), 1, amount=D("100.001")),
         {"total_precision", "line_amount_precision"}, "total", "more than 2 decimal places", D("120.001"),
         lambda k: line(line(bill(k, total=D("120.0000")), 1, amount=D("100.0000")), 2, amount=D("20.0000"))),
    case("total_equals_lines", lambda k: bill(k, total=D("130.00")), {"total_equals_lines"},
         "total", "130.00 differs from the sum of its lines 120.00", D("130.00"),
         # 0.10 + 0.20 == 0.30 exactly; in float it is 0.30000000000000004
         lambda k: line(line(bill(k, total=D("0.30")), 1, amount=D("0.10")), 2, amount=D("0.20"))),
    case("journal_entry_balances", lambda k: line(journal_entry(k), 2, amount=D("110.00")),
         {"journal_entry_balances"}, "lines", "debits 120.00 and credits 110.00 do not balance", D("10.00"),
         journal_entry),
    case("currency_present", lambda k: bill(k, currency=None), {"currency_present"}, "currency", "missing", None,
         bill),
    case("currency_allowed", lambda k: bill(k, currency="EUR"), {"currency_allowed"}, "currency",
         "EUR is not the entity's currency USD nor one allowed (CAD, MXN, USD)", "EUR", lambda k: bill(k, currency="CAD")),
    case("currency_enabled", lambda k: bill(k, currency="MXN"), {"currency_enabled"}, "currency",
         "MXN is not enabled in the accounting system (enabled: CAD, EUR, USD)", "MXN",
         lambda k: bill(k, currency="CAD")),
    case("exchange_rate_known", lambda k: bill(k, currency="CAD", rate_problem="no exchange rate for CAD on "
                                                  "2025-03-01: give exchange_rate in the feed"),
         {"exchange_rate_known"}, "exchange_rate", "no exchange rate for CAD on 2025-03-01: give exchange_rate in the "
         "feed", None, lambda k: bill(k, currency="CAD")),
    case("journal_code_resolves", lambda k: journal_entry(k, journal_code="PAIE", journal_resolved=False),
         {"journal_code_resolves"}, "journal_code", "no active journal 'PAIE' in the accounting system's journals",
         "PAIE", lambda k: journal_entry(k, journal_code="OD", journal_resolved=True)),
    case("journal_declared_by_source",
         lambda k: journal_entry(k, journal_code="PAIE", journal_resolved=True, journal_declared=False),
         {"journal_declared_by_source"}, "journal_code",
         "journal 'PAIE' is not among the journals the source declared: declare it in the feed's `journals`, or "
         "name a declared one", "PAIE",
         lambda k: journal_entry(k, journal_code="OD", journal_resolved=True, journal_declared=True)),
    case("journal_declared_by_source", lambda k: journal_entry(k, journal_code="OD", journal_resolved=True,
                                                                 journal_declared=False, journal_inactive=True),
         {"journal_declared_by_source"}, "journal_code",
         "journal 'OD' is inactive among the journals the source declared (active: false): declare it in the "
         "feed's `journals`, or name a declared one", "OD",
         # a source that declares no journal (None): nothing to check
         lambda k: journal_entry(k, journal_code="OD", journal_resolved=True, journal_declared=None),
         id="journal_declared_by_source-inactive"),
    case("doc_number_length", lambda k: bill(k, doc_number="N" * 22), {"doc_number_length"}, "doc_number",
         "longer than 21 characters", "N" * 22, lambda k: bill(k, doc_number="M" * 21)),
    case("doc_number_present", lambda k: bill(k, doc_number=None), {"doc_number_present"}, "doc_number",
         "missing; the accounting system needs a document number", None, journal_entry),
    case("due_date_not_before_doc_date", lambda k: bill(k, due_date=DOC_DATE - timedelta(days=1)),
         {"due_date_not_before_doc_date"}, "due_date", "before the document date 2025-03-01", date(2025, 2, 28),
         lambda k: bill(k, due_date=DOC_DATE)),
    case("doc_number_unique_in_batch",
         lambda k: [bill(f"{k}-first", doc_number="DUP-1", party_ref="v-dup"),
                    bill(k, doc_number="DUP-1", party_ref="v-dup")],
         {"doc_number_unique_in_batch"}, "doc_number",
         "the vendor already has a bill with this number (doc_number_unique_in_batch-bad-first, in this batch); "
         "the company refuses duplicate bill numbers", "DUP-1",
         lambda k: [bill(f"{k}-first", doc_number="DUP-2", party_ref="v-dup2"),
                    bill(k, doc_number="DUP-2", party_ref="v-other"),
                    invoice(f"{k}-invoice", doc_number="DUP-2", party_ref="v-dup2")]),
    case("doc_number_not_taken", lambda k: bill(k, party_ref="vendor-taken", doc_number="OLD-1"),
         {"doc_number_not_taken"}, "doc_number",
         "the vendor already has a bill with this number (bill 130 in the accounting system); the company refuses "
         "duplicate bill numbers", "OLD-1", lambda k: bill(k, party_ref="vendor-other", doc_number="OLD-1")),
    case("line_amount_present", lambda k: line(bill(k), 2, amount=None), {"line_amount_present"},
         "lines[2].amount", "missing", None, bill),
    case("line_amount_positive", lambda k: line(line(bill(k), 1, amount=D("130.00")), 2, amount=D("-10.00")),
         {"line_amount_positive"}, "lines[2].amount", "must be positive", D("-10.00"), bill),
    case("line_amount_precision", lambda k: line(line(bill(k), 1, amount=D("100.005")), 2, amount=D("19.995")),
         {"line_amount_precision"}, "lines[1].amount", "more than 2 decimal places", D("100.005"),
         lambda k: line(line(bill(k), 1, amount=D("100.5000")), 2, amount=D("19.50"))),
    case("line_account_resolves", lambda k: line(bill(k), 2, account_code="9999", account_resolved=False),
         {"line_account_resolves"}, "lines[2].account_code", "no active account with this number or name", "9999",
         bill),
    case("line_account_resolves", lambda k: line(bill(k, kind="vendor_credit"), 1, account_code="9999",
                                                 account_resolved=False),
         {"line_account_resolves"}, "lines[1].account_code", "no active account with this number or name", "9999",
         lambda k: bill(k, kind="vendor_credit"), id="vendor_credit_account_resolves"),
    case("line_account_resolves", lambda k: line(journal_entry(k), 1, account_code=None, account_resolved=None),
         {"line_account_resolves"}, "lines[1].account_code", "missing", None, journal_entry,
         id="line_account_missing"),
    case("line_item_resolves", lambda k: line(invoice(k), 2, item_code="Nope", item_resolved=False),
         {"line_item_resolves"}, "lines[2].item_code", "no active product or service with this SKU or name", "Nope",
         invoice),
    case("line_item_resolves", lambda k: line(credit_note(k), 1, item_code=None, item_resolved=None),
         {"line_item_resolves"}, "lines[1].item_code", "missing", None, credit_note,
         id="line_item_resolves_credit_note"),
    case("line_item_resolves", lambda k: line(invoice(k), 1, item_code="W-1", item_resolved=False,
                                              item_problem="the accounting system's item 'Widget' (id 7) is inactive"),
         {"line_item_resolves"}, "lines[1].item_code", "the accounting system's item 'Widget' (id 7) is inactive", "W-1",
         invoice, id="line_item_inactive"),
    case("line_tax_code_resolves", lambda k: line(invoice(k), 1, tax_code="A", tax_code_resolved=False),
         {"line_tax_code_resolves"}, "lines[1].tax_code", "no active tax code with this name", "A",
         lambda k: line(invoice(k), 1, tax_code="TAX", tax_code_resolved=True)),
    case("line_tax_amount_matches_rate", lambda k: taxed(k, "20.00"), {"line_tax_amount_matches_rate"},
         "lines[1].tax_amount", "the source says 20.00, INPUT at 15% of 100.00 makes 15.00", D("20.00"),
         # a cent off is a source rounding its own way; a code whose rate is not mirrored is not checked
         lambda k: [taxed(k, "15.01"), taxed(f"{k}-no-rate", "20.00", tax_rate=None)]),
    case("line_tax_amount_matches_rate", lambda k: taxed(k, "15.00", amounts_include_tax=True),
         {"line_tax_amount_matches_rate"}, "lines[1].tax_amount",
         "the source says 15.00, INPUT at 15% (inside 100.00) makes 13.04", D("15.00"),
         lambda k: taxed(k, "13.04", amounts_include_tax=True), id="line_tax_amount_inclusive"),
    case("line_tax_amount_matches_rate", lambda k: line(bill(k), 2, tax_amount=D("3.00")),
         {"line_tax_amount_matches_rate"}, "lines[2].tax_amount",
         "the source says 3.00 of tax but the line has no tax code: the accounting system would book none", D("3.00"),
         lambda k: line(bill(k), 2, tax_amount=D("0.00")), id="line_tax_amount_without_tax_code"),
    case("line_tax_code_resolves", lambda k: taxed(k, "20.00", tax_code_resolved=False), {"line_tax_code_resolves"},
         "lines[1].tax_code", "no active tax code with this name", "INPUT",
         lambda k: line(taxed(k, "12.50", tax_rate=D("12.5")), 2, tax_code="INPUT", tax_code_resolved=True,
                        tax_rate=D("12.5"), tax_amount=D("2.50")),
         id="line_tax_amount_unresolved_code_held_once"),
    case("line_class_resolves", lambda k: line(bill(k), 1, class_code="West", class_resolved=False),
         {"line_class_resolves"}, "lines[1].class_code", "no active class with this name", "West",
         lambda k: line(bill(k), 1, class_code=None, class_resolved=False)),
    case("line_posting_type",
         lambda k: journal_entry(k, lines=journal_entry(k)["lines"] + [
             {"line_no": 3, "amount": D("5.00"), "posting_type": "memo", "account_code": "6000",
              "account_resolved": True}]),
         {"line_posting_type"}, "lines[3].posting_type", "must be debit or credit", "memo", journal_entry),
    case("line_quantity_positive", lambda k: line(invoice(k), 1, quantity=D(-2), unit_price=D("-50.00")),
         {"line_quantity_positive"}, "lines[1].quantity", "must be positive", D(-2), invoice),
    case("line_amount_equals_quantity_times_price", lambda k: line(invoice(k, total=D("119.99")), 1, amount=D("99.99")),
         {"line_amount_equals_quantity_times_price"}, "lines[1].amount",
         "differs from quantity x unit price 2 x 50.00 = 100.00", D("99.99"),
         # 3 x 33.333 = 99.999, which QuickBooks shows as 100.00
         lambda k: line(invoice(k), 1, quantity=D(3), unit_price=D("33.333"))),
]


def _records(make, key):
    made = make(key)
    return made if isinstance(made, list) else [made]


@pytest.fixture(scope="module")
def outcome():
    records = []
    for c in CASES:
        records += _records(c.bad, f"{c.id}-bad") + _records(c.good, f"{c.id}-good")
    return check("documents", records, PARAMS)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_failing_case(outcome, c):
    failures = outcome.failures[f"{c.id}-bad"]
    assert {f.expectation for f in failures} == c.fails
    focus = next(f for f in failures if f.expectation == c.expectation)
    assert (focus.field, focus.problem, focus.value) == (c.field, c.problem, c.value)
    assert focus.key == f"{c.id}-bad"
    assert set(focus.values) == set(focus.columns)  # the offending values, by column
    assert str(focus) == f"{focus.key} {focus.message()}"


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_passing_case(outcome, c):
    for record in _records(c.good, f"{c.id}-good"):
        assert record["hub_id"] in outcome.passed, outcome.failures.get(record["hub_id"])
    for record in _records(c.bad, f"{c.id}-bad")[:-1]:
        assert record["hub_id"] in outcome.passed


def test_every_expectation_has_cases(outcome):
    assert {c.expectation for c in CASES} == {e.name for e in documents.EXPECTATIONS}
    stats = {s.expectation: s for s in outcome.expectations}
    assert set(stats) == {e.name for e in documents.EXPECTATIONS}
    for c in CASES:
        assert stats[c.expectation].failed >= 1 and stats[c.expectation].checked >= 2


def test_offending_values_are_exact_money(outcome):
    failure = next(f for f in outcome.failures["total_equals_lines-bad"] if f.expectation == "total_equals_lines")
    assert failure.columns == ("total", "lines_total")
    assert failure.values == {"total": D("130.00"), "lines_total": D("120.00")}


def test_amounts_compare_exactly_beyond_float_precision():
    # 900719925474.0993 and .0992 are the same float64 (2**53 + 1 ten-thousandths)
    assert float(D("900719925474.0993")) == float(D("900719925474.0992"))
    record = line(line(bill("BIG", total=D("900719925474.0993")), 1, amount=D("900719925474.0892")), 2,
                  amount=D("0.0100"))
    result = check("documents", [record], DocumentParams())
    names = {f.expectation for f in result.failures["BIG"]}
    assert "total_equals_lines" in names


def test_bill_numbers_may_repeat_when_the_target_allows_it():
    records = [bill("A", doc_number="SAME", party_ref="v"), bill("B", doc_number="SAME", party_ref="v"),
               bill("C", doc_number="OLD-1", party_ref="vendor-taken")]
    result = check("documents", records, DocumentParams(unique_bill_numbers=False, taken_numbers=TAKEN))
    assert result.passed == ["A", "B", "C"]
    names = {s.expectation for s in result.expectations}
    assert "doc_number_unique_in_batch" not in names and "doc_number_not_taken" not in names


def test_doc_number_limit_is_a_parameter():
    records = [bill("D20", doc_number="N" * 20), bill("D21", doc_number="N" * 21)]
    desktop = check("documents", records, DocumentParams(doc_number_limit=documents.DOC_NUMBER_LIMITS[
        "quickbooks_desktop"]))
    assert desktop.passed == ["D20"]
    assert desktop.failures["D21"][0].problem == "longer than 20 characters"
    online = check("documents", records, {"doc_number_limit": 21})
    assert online.passed == ["D20", "D21"]


def test_params_refuse_a_currency_that_is_not_iso():
    with pytest.raises(ValueError, match="'US\\$' is not an ISO 4217 code"):
        DocumentParams(currency="USD", allowed_currencies={"US$"})


# -- a mixed batch ---------------------------------------------------------------------------------

def test_mixed_batch_of_1000_passes_the_950_good_and_fails_the_50_bad_with_their_reasons():
    records, expected = mixed_batch(1000, bad_every=20)
    assert len(expected) == 50
    result = check("documents", records, DocumentParams(taken_numbers=TAKEN))
    good = [r["hub_id"] for r in records if r["hub_id"] not in expected]
    assert result.passed == good and len(good) == 950
    assert set(result.failures) == set(expected)
    for key, reasons in expected.items():
        got = {f.expectation: (f.field, f.problem) for f in result.failures[key]}
        assert got == reasons, key
    # Failing only their party link (5, waiting for a review) is out of the rate: 45 of 995.
    only_party = [k for k, failures in result.failures.items() if {f.expectation for f in failures} == {"party_linked"}]
    assert result.checked == 1000 and result.waiting_on_review == len(only_party) == 5 and not result.carried_over
    assert result.failure_rate == 45 / 995
    assert not result.systemic and not result.batch_failures
    # Fixed upstream, the same records pass on the next run.
    fixed = [bill(r["hub_id"]) if r["hub_id"] in expected else r for r in records]
    assert check("documents", fixed, DocumentParams(taken_numbers=TAKEN)).ok


# -- the systemic threshold ------------------------------------------------------------------------

def test_a_failure_rate_above_the_threshold_is_systemic():
    # A wrong currency mapping: 30 of 100 documents come in euros.
    records = [bill(f"S-{i:03d}", currency="EUR" if i % 10 < 3 else "USD") for i in range(100)]
    result = check("documents", records, DocumentParams())
    assert result.failed == 30 and result.failure_rate == 0.30
    assert result.systemic
    assert result.message.startswith(f"SYSTEMIC problem in suite documents {documents.SUITE_VERSION}: 30 of 100 "
                                     "records failed (30.0%, above the suite's 10.0%)")
    assert "currency_allowed (30)" in result.message
    assert "wrong mapping" in result.message
    assert result.message in format_table(result)


def test_one_kind_failing_wholesale_is_systemic_even_when_the_batch_rate_is_low():
    records = [bill(f"B-{i:03d}") for i in range(300)]
    records += [line(invoice(f"I-{i:03d}"), 1, item_resolved=False) for i in range(25)]  # items not mapped
    result = check("documents", records, DocumentParams())
    assert result.failure_rate < documents.MAX_FAILURE_RATE
    assert result.systemic
    assert "25 of 25 invoice records failed (100.0%" in result.message
    assert result.group_rates == {"bill": (0, 300), "invoice": (25, 25)}


def test_below_the_threshold_or_too_few_records_is_not_systemic():
    records = [bill(f"B-{i:03d}", currency="EUR" if i < 10 else "USD") for i in range(100)]
    assert not check("documents", records, DocumentParams()).systemic  # 10%: at the threshold, not above
    assert check("documents", records, DocumentParams(max_failure_rate=0.05)).systemic
    few = [bill("X-1", currency="EUR"), bill("X-2", currency="EUR"), bill("X-3")]
    result = check("documents", few, DocumentParams())
    assert result.failure_rate > 0.5 and not result.systemic  # 3 records say nothing about a mapping


def test_format_table_is_compact_and_names_examples():
    records, _ = mixed_batch(200, bad_every=20)
    result = check("documents", records, DocumentParams(taken_numbers=TAKEN))
    table = format_table(result)
    lines = table.splitlines()
    assert lines[0] == (f"suite documents {documents.SUITE_VERSION}: 200 checked, 1 of them waiting on a review, "
                        "190 passed, 10 failed (rate 4.5% of the others; systemic above 10.0%)")
    assert lines[1].startswith("expectation ") and lines[1].endswith(" | checked | failed | examples")
    row = next(line for line in lines if line.startswith("total_equals_lines "))
    assert [cell.strip() for cell in row.split("|")] == ["total_equals_lines", "200", "1", "D-0019"]
    assert not result.systemic and len(lines) == 3 + len(result.expectations)
    only_failed = format_table(result, only_failed=True).splitlines()
    assert len(only_failed) == 4 + sum(1 for s in result.expectations if s.failed)
    assert only_failed[-1] == f"(and {sum(1 for s in result.expectations if not s.failed)} more expectations with no " \
                              "failure)"


def test_records_failing_only_their_party_link_are_held_but_not_systemic():
    # 30 bills of vendors waiting for a person's review: the review queue's business, not a wrong mapping.
    records = [bill(f"R-{i:03d}", party_linked=i % 10 >= 3) for i in range(100)]
    result = check("documents", records, DocumentParams())
    assert result.failed == 30 and not result.systemic
    assert result.waiting_on_review == 30 and not result.carried_over and result.failure_rate == 0.0
    # Bills already held by an earlier run are told apart from those waiting on a review.
    records = [bill("H-1", currency="EUR"), bill("H-2", party_linked=False), bill("N-1", party_linked=False),
               bill("N-2")]
    result = check("documents", records, DocumentParams(), carried_over={"H-1", "H-2"})
    assert (result.carried_over, result.waiting_on_review, result.failure_rate) == (2, 1, 0.0)
    assert format_table(result).splitlines()[0] == (
        f"suite documents {documents.SUITE_VERSION}: 4 checked, 2 of them held from earlier runs, 1 of them waiting "
        "on a review, 1 passed, 3 failed (rate 0.0% of the others; too few new records to judge a rate: from 20)")
    assert result.message.endswith("3 failed (besides 2 held from earlier runs and 1 waiting on a review) (0.0%; "
                                   "systemic above 10.0%)")
    # The same 30 also in the wrong currency: that is counted, and systemic.
    records = [bill(f"R-{i:03d}", party_linked=i % 10 >= 3, currency="EUR" if i % 10 < 3 else "USD")
               for i in range(100)]
    assert check("documents", records, DocumentParams()).systemic
