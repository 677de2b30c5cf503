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


def journal(external_id, code, **changes):
    record = {"kind": "journal_code", "external_id": external_id, "name": code, "active": True,
              "account_type": "Expenses"}
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
    # journal_code_unique: case aside; an inactive namesake is fine
    journal("J-1", "ACH"), journal("J-2", "ach "), journal("J-3", "VTE", account_type="sales"),
    journal("J-4", "VTE", active=False),
    # journal_type_known: QuickBooks France's or the file drop's; none given is fine
    journal("J-5", "OD", account_type="Operations"), journal("J-6", "BQ", account_type=None),
    # auxiliary_account_unique: across vendors and customers, case aside; an inactive party's is free
    party("vendor", "V-10", "Aux One", auxiliary_account="401ACME"),
    party("customer", "C-10", "Aux Two", auxiliary_account="401acme"),
    party("vendor", "V-11", "Aux Three", auxiliary_account="401BETA"),
    party("vendor", "V-12", "Aux Four", auxiliary_account="401BETA", active=False),
    # ... and a contact that is both supplier and customer (one id, one name) holds its own account twice
    party("vendor", "X-1", "Both Ways", auxiliary_account="BOTH01"),
    party("customer", "X-1", "Both Ways", auxiliary_account="BOTH01"),
    # collective_account_fits: a vendor's payables account, a customer's receivables account, in the chart
    account("A-AP", "Fournisseurs", account_type="Accounts Payable"),
    account("A-AR", "Clients", account_type="Accounts Receivable"),
    party("vendor", "V-20", "Coll One", collective_account="A-AP"),
    party("vendor", "V-21", "Coll Two", collective_account="A-AR"),
    party("customer", "C-20", "Coll Three", collective_account="A-AR"),
    party("customer", "C-21", "Coll Four", collective_account="411404"),
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
        ("account_type_known", "account_type", "not a known QuickBooks account type", "Bank Account")]
    assert reasons(outcome, "account:A-5") == [("account_type_known", "account_type", "missing", "")]
    assert "account:A-6" in outcome.passed
    assert "vendor:V-3" not in outcome.failures  # account types matter for accounts only


def test_account_types_are_the_accounting_systems_own():
    from ledgerbridge.connectors.specs import accounting_spec

    xero = accounting_spec("xero")
    records = [{"kind": "account", "external_id": code, "name": name, "account_type": kind}
               for code, name, kind in (("090", "Business Bank Account", "BANK"), ("429", "General Expenses", "EXPENSE"),
                                        ("6010", "Supplies", "Expense"))]
    result = check("reference", records, ReferenceParams(account_types=xero.account_types, account_system=xero.label))
    assert {"account:090", "account:429"} <= set(result.passed)
    assert reasons(result, "account:6010") == [
        ("account_type_known", "account_type", "not a known Xero account type", "Expense")]


def test_party_name_unique(outcome):
    assert reasons(outcome, "vendor:V-1") == [
        ("party_name_unique", "name", "another active vendor has this name (vendor:V-2)", "Acme Ltd")]
    assert reasons(outcome, "vendor:V-2") == [
        ("party_name_unique", "name", "another active vendor has this name (vendor:V-1)", "ACME LTD")]
    assert {"vendor:V-3", "vendor:V-4", "customer:C-1"} <= set(outcome.passed)


def test_currency_iso(outcome):
    assert reasons(outcome, "customer:C-2") == [("currency_iso", "currency", "not an ISO 4217 currency code", "US$")]
    assert {"customer:C-3", "customer:C-4"} <= set(outcome.passed)


def test_journal_code_unique(outcome):
    assert reasons(outcome, "journal_code:J-1") == [
        ("journal_code_unique", "name", "another active journal has this code (case aside) (journal_code:J-2)",
         "ACH")]
    assert [r[0] for r in reasons(outcome, "journal_code:J-2")] == ["journal_code_unique"]
    assert {"journal_code:J-3", "journal_code:J-4"} <= set(outcome.passed)


def test_journal_type_known(outcome):
    assert reasons(outcome, "journal_code:J-5") == [
        ("journal_type_known", "account_type", "not a known journal type", "Operations")]
    assert "journal_code:J-6" in outcome.passed


def test_auxiliary_account_unique_across_vendors_and_customers(outcome):
    assert reasons(outcome, "vendor:V-10") == [
        ("auxiliary_account_unique", "auxiliary_account",
         "another active vendor or customer has this auxiliary account (customer:C-10)", "401ACME")]
    assert [r[0] for r in reasons(outcome, "customer:C-10")] == ["auxiliary_account_unique"]
    assert {"vendor:V-11", "vendor:V-12", "vendor:X-1", "customer:X-1"} <= set(outcome.passed)


def test_collective_account_fits(outcome):
    assert reasons(outcome, "vendor:V-21") == [
        ("collective_account_fits", "collective_account", "its collective account A-AR (Clients) is of type Accounts "
         "Receivable, not a payables account", "A-AR")]
    assert reasons(outcome, "customer:C-21") == [
        ("collective_account_fits", "collective_account", "its collective account 411404 is not in the chart of "
         "accounts", "411404")]
    assert {"vendor:V-20", "customer:C-20"} <= set(outcome.passed)


def test_a_desktop_companys_payables_type_fits_a_vendor():
    records = [account("10", "A/P", account_type="AccountsPayable"), account("11", "Checking", account_type="Bank"),
               party("vendor", "V-1", "One", collective_account="10"),
               party("vendor", "V-2", "Two", collective_account="11")]
    result = check("reference", records, ReferenceParams(account_types=frozenset({"AccountsPayable", "Bank"})))
    assert "vendor:V-1" in result.passed
    assert [r[0] for r in reasons(result, "vendor:V-2")] == ["collective_account_fits"]


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
    assert result.message.startswith("SYSTEMIC problem in suite reference 1.2.0: account: 40 rows against 100")
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
