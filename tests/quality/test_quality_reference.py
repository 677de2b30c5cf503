"""Suite `reference`: each expectation fails and passes; a sudden drop in row count is systemic."""
from __future__ import annotations

import pytest
from ledgerbridge.quality import ReferenceParams, check, format_table, reference


def account(external_id, name=None, **changes):
    record = {"kind": "account", "external_id": external_id, "name": name or f"Account {external_id}",
              "active": True, "account_type": "Expense", "currency": "USD"}
    record.update(changes)
    return record


def party(kind, external_id, name, **changes):
    record = {"kind": kind, "external_id": external_id, "name": name, "active": True}
    record.update(changes)
    return record


RECORDS = [
    # id_present
    account(None, "No id"), account("A-1"),
    # id_unique: two accounts with one id; the same id in another kind is fine
    account("A-DUP", "First"), account("A-DUP", "Second"), account("77"), {"kind": "class", "external_id": "77",
                                                                           "name": "East"},
    # name_present
    account("A-2", "   "), account("A-3", "Rent"),
    # account_type_known
    account("A-4", account_type="Bank Account"), account("A-5", account_type=None), account("A-6",
                                                                                         account_type="Credit Card"),
    # party_name_unique: casefolded; an inactive namesake, or a customer of the same name, is fine
    party("vendor", "V-1", "Acme Ltd"), party("vendor", "V-2", "ACME LTD "), party("vendor", "V-3", "Brown & Co"),
    party("vendor", "V-4", "Brown & Co", active=False), party("customer", "C-1", "Brown & Co"),
    # currency_iso
    party("customer", "C-2", "Zeta", currency="US$"), party("customer", "C-3", "Eta", currency="CAD"),
    party("customer", "C-4", "Theta", currency=None),
]


@pytest.fixture(scope="module")
def outcome():
    return check("reference", RECORDS, ReferenceParams())


def reasons(outcome, key):
    return [(f.expectation, f.field, f.problem, f.value) for f in outcome.failures[key]]


def test_id_present(outcome):
    assert reasons(outcome, "account:#0") == [("id_present", "external_id", "missing", None)]
    assert "account:A-1" in outcome.passed


def test_id_unique(outcome):
    assert reasons(outcome, "account:A-DUP") == [
        ("id_unique", "external_id", "another account in this pull has the same id", "A-DUP")] * 2
    assert "account:77" in outcome.passed and "class:77" in outcome.passed


def test_name_present(outcome):
    assert reasons(outcome, "account:A-2") == [("name_present", "name", "missing", None)]
    assert "account:A-3" in outcome.passed


def test_account_type_known(outcome):
    assert reasons(outcome, "account:A-4") == [
        ("account_type_known", "account_type", "not a known QuickBooks or Xero account type", "Bank Account")]
    assert reasons(outcome, "account:A-5") == [("account_type_known", "account_type", "missing", "")]
    assert "account:A-6" in outcome.passed
    assert "vendor:V-3" not in outcome.failures  # account types matter for accounts only


def test_party_name_unique(outcome):
    assert reasons(outcome, "vendor:V-1") == [
        ("party_name_unique", "name", "another active vendor has this name (vendor:V-2)", "Acme Ltd")]
    assert reasons(outcome, "vendor:V-2") == [
        ("party_name_unique", "name", "another active vendor has this name (vendor:V-1)", "ACME LTD")]
    assert {"vendor:V-3", "vendor:V-4", "customer:C-1"} <= set(outcome.passed)


def test_currency_iso(outcome):
    assert reasons(outcome, "customer:C-2") == [("currency_iso", "currency", "not an ISO 4217 currency code", "US$")]
    assert {"customer:C-3", "customer:C-4"} <= set(outcome.passed)


def test_every_expectation_failed_once(outcome):
    record_level = {e.name for e in reference.EXPECTATIONS if e.record_level}
    assert {s.expectation for s in outcome.expectations if s.failed} == record_level


# -- the row count against the last run ------------------------------------------------------------

def accounts(n):
    return [account(f"A-{i}") for i in range(n)]


def test_a_sudden_drop_in_row_count_is_systemic_and_fails_no_record():
    records = accounts(40) + [party("vendor", f"V-{i}", f"Vendor {i}") for i in range(30)]
    result = check("reference", records, ReferenceParams(last_counts={"account": 100, "vendor": 30}))
    assert result.systemic
    assert not result.failures and len(result.passed) == 70  # no record is to blame
    [drop] = result.batch_failures
    assert drop.expectation == "row_count_kept" and drop.field == "account"
    assert drop.problem.startswith("40 rows against 100 in the last run, a drop of 60% (more than 50%): "
                                   "a half-empty pull?")
    assert drop.values == {"rows": 40, "floor": 50}
    assert result.message.startswith("SYSTEMIC problem in suite reference 1.0.0: account: 40 rows against 100")
    table = format_table(result)
    assert "BATCH row_count_kept: account: 40 rows against 100 in the last run" in table
    stat = next(s for s in result.expectations if s.expectation == "row_count_kept")
    assert (stat.checked, stat.failed, stat.examples, stat.record_level) == (2, 1, ("account",), False)


def test_a_kind_that_vanished_is_a_drop_too():
    result = check("reference", accounts(20), ReferenceParams(last_counts={"account": 20, "vendor": 50}))
    assert result.systemic
    assert [f.field for f in result.batch_failures] == ["vendor"]
    assert result.batch_failures[0].problem.startswith("0 rows against 50 in the last run, a drop of 100%")


def test_a_small_drop_or_a_small_list_is_not_systemic():
    ok = check("reference", accounts(60), ReferenceParams(last_counts={"account": 100}))  # 40% fewer
    assert not ok.systemic and not ok.batch_failures
    tiny = check("reference", accounts(2), ReferenceParams(last_counts={"account": 9}))  # 9 rows say nothing
    assert not tiny.systemic
    first_run = check("reference", accounts(5), ReferenceParams())
    assert not first_run.systemic and first_run.ok
    stricter = check("reference", accounts(60), ReferenceParams(last_counts={"account": 100}, max_drop=0.3))
    assert stricter.systemic
