"""Data quality between the steps: Great Expectations suites as code, and a runner that maps
failures back to records with reasons a person can act on. See docs/data-quality.md.

    from ledgerbridge.quality import check, format_table
    result = check("documents", records, DocumentParams(currency="USD"))
    log.info("%s", format_table(result))

Importing this package imports neither Great Expectations nor pandas: the runner imports them on
the first `check`, so the DAG parse path stays free of them.
"""
from __future__ import annotations

from ledgerbridge.quality import documents, parties, payments, reference
from ledgerbridge.quality.documents import DocumentParams
from ledgerbridge.quality.parties import PartyParams
from ledgerbridge.quality.payments import PaymentParams
from ledgerbridge.quality.reference import ReferenceParams
from ledgerbridge.quality.results import (
    ExpectationStat,
    Failure,
    SuiteResult,
    format_table,
)
from ledgerbridge.quality.runner import QualityError, check, gx_context
from ledgerbridge.quality.spec import Expectation, Suite

SUITES: dict[str, Suite] = {module.SUITE.name: module.SUITE for module in (reference, parties, documents, payments)}


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise KeyError(f"no data-quality suite {name!r}; there are {', '.join(sorted(SUITES))}") from None


def overridable_expectations() -> frozenset[str]:
    """Expectations a person may waive for one record (`ledgerbridge quarantine release`)."""
    return frozenset(exp.name for suite in SUITES.values() for exp in suite.expectations if exp.overridable)


__all__ = [
    "SUITES", "DocumentParams", "Expectation", "ExpectationStat", "Failure", "PartyParams", "PaymentParams",
    "QualityError", "ReferenceParams", "Suite", "SuiteResult", "check", "format_table", "get_suite", "gx_context",
    "overridable_expectations",
]
