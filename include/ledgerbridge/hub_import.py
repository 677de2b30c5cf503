"""Loading hub records into the ledger from a plain mapping, all or nothing.

`import_hub_data(session, entity, data)` is the strict form of source intake
(ledgerbridge.sources.intake): the first bad record raises HubRecordError naming the record and the
field, and nothing of the mapping is kept (the caller's session rolls back). Sources take records
one by one instead (a bad record is quarantined, the others go on): ledgerbridge.flows.source.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ledgerbridge.registry import LegalEntity
from ledgerbridge.sources.intake import HubRecordError, records_of_mapping, take_in

__all__ = ["HubRecordError", "import_hub_data"]


def import_hub_data(session: Session, entity: LegalEntity, data: dict[str, Any]) -> dict[str, int]:
    """Insert the records of `data` the ledger does not have yet and update those that changed (by
    hub id); returns the number of new records per key (vendors, bills, ...)."""
    return take_in(session, entity, records_of_mapping(data), strict=True).new_per_kind()
