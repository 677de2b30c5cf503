"""check_reference: the mirrored lists are usable before anything is matched or exported against them.

A failing list record is quarantined (dataset `reference.<kind>`) and is then invisible to matching
and to reference resolution, so no document is exported against it.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from ledgerbridge.flows import quarantine
from ledgerbridge.flows.quarantine import Reason
from ledgerbridge.ledger.models import ReferenceRecord

# QuickBooks Online account types (AccountType), from Intuit's Account reference.
KNOWN_ACCOUNT_TYPES = frozenset({
    "Bank", "Other Current Asset", "Fixed Asset", "Other Asset", "Accounts Receivable", "Equity", "Expense",
    "Other Expense", "Cost of Goods Sold", "Accounts Payable", "Credit Card", "Long Term Liability",
    "Other Current Liability", "Income", "Other Income",
})
PARTY_KINDS = ("vendor", "customer")
# Lists things are exported against; mirrored transactions are only looked at, and not checked here.
LIST_KINDS = ("account", "vendor", "customer", "class", "department", "term", "tax_code", "item")


def check_reference(ctx) -> dict:
    summary = {}
    with ctx.ledger.session() as session:
        rows = session.scalars(select(ReferenceRecord).where(
            ReferenceRecord.entity_id == ctx.entity.id, ReferenceRecord.deleted_at.is_(None),
            ReferenceRecord.kind.in_(LIST_KINDS))).all()
        by_kind: dict[str, list[ReferenceRecord]] = defaultdict(list)
        for row in rows:
            by_kind[row.kind].append(row)
        duplicate_names = _duplicate_active_party_names(rows)
        for kind, records in sorted(by_kind.items()):
            dataset = f"reference.{kind}"
            passed, failed = [], 0
            for row in records:
                reasons = _problems(row, duplicate_names)
                if reasons:
                    failed += 1
                    quarantine.hold(session, ctx.entity.id, dataset, row.external_id, reasons,
                                    {"external_id": row.external_id, "name": row.name, "kind": kind})
                else:
                    passed.append(row.external_id)
            quarantine.resolve(session, ctx.entity.id, dataset, passed)
            summary[kind] = {"checked": len(records), "failed": failed}
            log = ctx.log.warning if failed else ctx.log.info
            log("%s: %d checked, %d quarantined", kind, len(records), failed)
    return summary


def _problems(row: ReferenceRecord, duplicate_names: set[tuple[str, str]]) -> list[Reason]:
    reasons = []
    if not (row.name or "").strip():
        reasons.append(Reason("name", "missing"))
    if row.kind == "account" and row.account_type not in KNOWN_ACCOUNT_TYPES:
        reasons.append(Reason("account_type", "not a known QuickBooks account type", row.account_type))
    if row.kind in PARTY_KINDS and row.active and (row.kind, (row.name or "").casefold()) in duplicate_names:
        reasons.append(Reason("name", "another active party of the same kind has this name", row.name))
    return reasons


def _duplicate_active_party_names(rows: list[ReferenceRecord]) -> set[tuple[str, str]]:
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        if row.kind in PARTY_KINDS and row.active and row.name:
            seen[(row.kind, row.name.casefold())] += 1
    return {key for key, n in seen.items() if n > 1}
