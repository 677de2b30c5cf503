"""The runner: GX stays off the import path, results map to quarantine reasons, errors are loud."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest
from ledgerbridge.quality import (
    SUITES,
    DocumentParams,
    Expectation,
    QualityError,
    Suite,
    check,
    documents,
    get_suite,
    parties,
    payments,
    reference,
)
from ledgerbridge.quality.spec import INT, KEY, RECORD, STR, decimal_places, money_units
from quality_samples import bill, mixed_batch

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_package_imports_neither_gx_nor_pandas():
    code = ("import sys\n"
            "import ledgerbridge.quality, ledgerbridge.quality.reference, ledgerbridge.quality.documents\n"
            "import ledgerbridge.quality.payments, ledgerbridge.quality.runner, ledgerbridge.quality.results\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('great_expectations', 'pandas', 'numpy')))")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "include"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_suites_are_versioned_and_registered():
    assert set(SUITES) == {"reference", "parties", "documents", "payments"}
    for module in (reference, parties, documents, payments):
        assert module.SUITE.version == module.SUITE_VERSION
        assert module.SUITE.gx_name == f"ledgerbridge.{module.NAME}@{module.SUITE_VERSION}"
        assert 0 < module.SUITE.max_failure_rate < 1
        names = [e.name for e in module.EXPECTATIONS]
        assert len(names) == len(set(names))
        for exp in module.EXPECTATIONS:  # every column an expectation looks at is declared
            assert set(exp.columns(module.SUITE.params_type())) <= set(module.COLUMNS[exp.table]), exp.name
    with pytest.raises(KeyError, match="no data-quality suite 'bills'"):
        get_suite("bills")


def test_docs_describe_every_suite_and_expectation():
    text = (ROOT / "docs" / "data-quality.md").read_text()
    for module in (reference, parties, documents, payments):
        assert f"`{module.NAME}` {module.SUITE_VERSION}" in text
        for exp in module.EXPECTATIONS:
            assert f"`{exp.name}`" in text, exp.name


def test_failures_become_quarantine_reasons():
    from ledgerbridge.ledger.quarantine import Reason

    record = bill("B-1", total=D("130.00"))
    result = check("documents", [record], DocumentParams())
    [failure] = result.failures["B-1"]
    reason = Reason(**failure.reason())
    assert str(reason) == failure.message() == "total: 130.00 differs from the sum of its lines 120.00"
    assert result.reasons("B-1") == [{"field": "total", "problem": "130.00 differs from the sum of its lines 120.00",
                                      "value": D("130.00"), "expectation": "total_equals_lines"}]


def test_results_are_json_for_the_ledger():
    records, _ = mixed_batch(100, bad_every=20)
    result = check("documents", records, DocumentParams())
    stored = json.loads(json.dumps(result.as_dict()))
    assert stored["suite"] == "documents" and stored["version"] == documents.SUITE_VERSION
    assert stored["checked"] == 100 and stored["failed"] == len(result.failures)
    assert stored["failures"]["D-0019"][0]["values"] == {"total": "120.01", "lines_total": "120.00"}
    assert result.summary() == {"suite": f"documents@{documents.SUITE_VERSION}", "checked": 100, "passed": 95, "failed": 5,
                                "systemic": False}
    assert result.gx_version.startswith("1.")
    assert set(result.timings) == {"build", "gx_startup", "frames", "gx", "map", "total"}


def test_an_empty_batch_passes():
    result = check("documents", [], {"currency": "USD"})
    assert result.ok and result.checked == 0 and result.failure_rate == 0.0
    assert all(stat.checked == 0 for stat in result.expectations)


def test_params_must_fit_the_suite():
    with pytest.raises(TypeError, match="params must be DocumentParams or a mapping"):
        check("documents", [], 42)
    with pytest.raises(TypeError):
        check("documents", [], {"no_such_param": 1})


def _suite(*expectations, columns=None):
    def build(records, params):
        return {"rows": [{KEY: r["id"], RECORD: n, "word": r["word"], "n": r["n"]} for n, r in enumerate(records)]}
    return Suite("test", "0", 0.5, DocumentParams, build, tuple(expectations),
                 {"rows": columns or {"word": STR, "n": INT}}, lambda r, n: r["id"])


def test_an_expectation_that_cannot_run_is_an_error_not_a_pass():
    records = [{"id": "1", "word": "abc", "n": 1}]
    broken = _suite(Expectation("word_small", "rows", "ExpectColumnValuesToBeBetween",
                                {"column": "word", "min_value": 1}, "word", "too small"))
    with pytest.raises(QualityError, match="word_small .* could not run"):
        check(broken, records)
    unknown = _suite(Expectation("x", "rows", "ExpectNoSuchThing", {"column": "word"}, "word", "?"))
    with pytest.raises(QualityError, match="ExpectNoSuchThing, which GX"):
        check(unknown, records)
    undeclared = _suite(Expectation("y", "rows", "ExpectColumnValuesToNotBeNull", {"column": "other"}, "other", "?"))
    with pytest.raises(QualityError, match="looks at rows.other, which the suite does not declare"):
        check(undeclared, records)


def test_money_goes_to_gx_as_exact_integers():
    assert money_units(D("120.01")) == 1_200_100
    assert money_units(D("9999999999999.9999")) == 99_999_999_999_999_999
    assert money_units(D("0.00001")) is None  # not exact at 4 places: its own check says why
    assert money_units(0.1) is None  # floats are never money
    assert money_units(None) is None
    assert decimal_places(D("120.1000")) == 1 and decimal_places(D(100)) == 0 and decimal_places(D("1E+2")) == 0
    assert decimal_places(D("0.001")) == 3 and decimal_places(1.5) == 99


def test_the_shipped_currency_list():
    from ledgerbridge.quality.currencies import ISO_4217

    assert all(len(code) == 3 and code.isalpha() and code.isupper() for code in ISO_4217)
    assert {"USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "XCG", "ZWG"} <= ISO_4217
    assert not {"XTS", "XXX", "US$", "usd", "EURO", "UDS"} & ISO_4217
