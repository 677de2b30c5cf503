"""fiscal_year_fec: the legal FEC of each fiscal year an entry-files entity closed, written once.

A French company hands the tax administration one FEC per fiscal year (docs/entry-files.md, "The
full-year FEC"). Each run looks at the fiscal years its written entries fall in (the manifests say),
and for each one that has ended and whose books the accountant closed (`accounting.entry_files.
closed_through` on or after its closing date) writes `<entity>/fec/<SIREN>FEC<closing date>.txt`
through the entity's own connection (its folder or SFTP server), unless that file is already there
with the same bytes. A year not ended or not closed waits, and the log says why; an entity with no
SIREN is skipped, saying what to set; an entity of another kind has nothing to do here.

A year that cannot be written (a file of that name holding other bytes, an entry the FEC cannot hold)
fails the step once the other years are done: a person must act, and a retry would see the same.
"""
from __future__ import annotations

import logging
from typing import Any

from ledgerbridge.connectors.entryfiles import (
    ALREADY_WRITTEN,
    FEC_WRITTEN,
    NOT_CLOSED,
    NOT_ENDED,
    REFUSED,
    WOULD_WRITE,
    EntryFilesConnector,
    FiscalYearFec,
)
from ledgerbridge.context import RunContext
from ledgerbridge.flows.errors import FiscalYearFecRefused

OUTCOMES = (FEC_WRITTEN, ALREADY_WRITTEN, WOULD_WRITE, NOT_CLOSED, NOT_ENDED, REFUSED)


def fiscal_year_fec(ctx: RunContext) -> dict[str, Any]:
    entity = ctx.entity
    settings = entity.accounting.entry_files
    if settings is None:
        ctx.log.info("%s: its books are kept in %s, which files its own fiscal years: nothing to do", entity.id,
                     entity.accounting.kind.value)
        return {"skipped": f"not an entry-files entity (accounting kind {entity.accounting.kind.value})"}
    if not settings.siren:
        reason = ("no SIREN: set accounting.entry_files.siren (the company's 9 digits) in the registry; the "
                  "FEC of each closed fiscal year is named by it and written by the next run")
        ctx.log.warning("%s: full-year FEC skipped: %s", entity.id, reason)
        return {"skipped": reason}
    connector: EntryFilesConnector = ctx.connector  # type: ignore[assignment]  # kind entry_files
    years = connector.closed_fiscal_years(dry_run=ctx.params.dry_run)
    if not years:
        ctx.log.info("%s: no entry written yet: no fiscal year to file", entity.id)
    for year in years:
        level = logging.ERROR if year.outcome == REFUSED else logging.INFO
        ctx.log.log(level, "%s: %s", entity.id, _said(year, settings.closed_through))
    summary: dict[str, Any] = {outcome.replace(" ", "_"): sum(1 for year in years if year.outcome == outcome)
                               for outcome in OUTCOMES}
    summary["years"] = {year.closing_date.isoformat(): year.outcome for year in years}
    ctx.log.info("%s: fiscal years: %s", entity.id, ", ".join(
        f"{summary[outcome.replace(' ', '_')]} {outcome}" for outcome in OUTCOMES) if years else "none")
    refused = [year for year in years if year.outcome == REFUSED]
    if refused:
        raise FiscalYearFecRefused(
            f"{entity.id}: the FEC of {len(refused)} closed fiscal year(s) could not be written: "
            + "; ".join(f"{year.closing_date}: {year.reason}" for year in refused), summary)
    return summary


def _said(year: FiscalYearFec, closed_through) -> str:
    span = f"fiscal year {year.opening_date} to {year.closing_date}"
    if year.outcome == NOT_ENDED:
        return (f"{span} ({year.entries} entries so far): not ended; its FEC is written once it has ended and "
                "the accountant has closed it")
    if year.outcome == NOT_CLOSED:
        return (f"{span} ({year.entries} entries): ended, but its books are not closed (accounting.entry_files."
                f"closed_through is {closed_through or 'not set'}): its FEC waits; once the accountant has closed "
                f"the year, set closed_through to {year.closing_date} or later")
    if year.outcome == REFUSED:
        return f"{span}: FEC not written: {year.reason}"
    if year.outcome == WOULD_WRITE:
        return f"{span}: dry run: {year.path} would be written ({year.entries} entries); nothing written"
    if year.outcome == ALREADY_WRITTEN:
        return f"{span}: {year.path} already written ({year.entries} entries, the same bytes): left as it is"
    return f"{span}: {year.path} written ({year.entries} entries)"
