"""The append-only audit log."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ledgerbridge.ledger.models import AuditEvent


def record(
    session: Session,
    entity_id: str | None,
    actor: str,
    action: str,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(
            entity_id=entity_id,
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=None if subject_id is None else str(subject_id),
            detail=detail or {},
        )
    )
