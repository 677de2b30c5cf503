"""What one kind of record is (a bill, a customer payment, a vendor, ...): one object per kind.

A kind knows its ledger model, its quarantine dataset, the registry flow that enables it, its party
role, how it is checked, snapshotted and exported as a neutral record, and how it is reconciled. The
flows iterate over kinds; the outbox stores the kind's name, and each accounting connector maps kinds
to its own objects (QuickBooks Online: "customer_payment" -> Payment).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledgerbridge.ledger.models import LinkStatus, Party, RecordType
from ledgerbridge.ledger.quarantine import Reason
from ledgerbridge.registry import Flow


class Waiting(Exception):
    """Not exportable yet, through no fault of the record."""


@dataclass(frozen=True)
class RecordKind:
    name: str  # "bill": the outbox's kind, the start of each record key
    record_type: RecordType
    model: type  # its ledger model
    dataset: str  # its quarantine dataset
    flow: Flow | None  # the registry flow enabling it (None: follows the documents it belongs to)
    party_role: str | None = None  # vendor | customer
    mirror_kind: str | None = None  # the reference kind its objects appear as in the accounting mirror

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    @property
    def plural(self) -> str:
        return f"{self.label[:-1]}ies" if self.label.endswith("y") else f"{self.label}s"

    def record_key(self, hub_id: str) -> str:
        """The outbox's name for one record; also what its idempotency key derives from."""
        return f"{self.name}:{hub_id}"

    def outbox_columns(self, export: Any) -> tuple[str | None, str | None]:
        """(document number, party's external id) of an export, kept beside its payload so that
        checks such as duplicate bill numbers never parse a connector's payload."""
        return None, None


def linked_party_id(party: Party | None, kind: str, record: str, reasons: list[Reason]) -> str | None:
    """The linked vendor's or customer's external id, or a reason why there is none; raises Waiting
    while it is being created."""
    if party is None:
        reasons.append(Reason(kind, f"{record} has no {kind}"))
        return None
    link = party.link
    if link is not None and link.status == LinkStatus.LINKED and link.external_id:
        return link.external_id
    if link is not None and link.status == LinkStatus.PENDING_CREATE:
        raise Waiting(f"{kind} {party.hub_id} {party.name!r} is being created in the accounting system")
    state = "in review" if link is not None and link.status == LinkStatus.REVIEW else "not linked"
    note = f" ({link.note})" if link is not None and link.note else ""
    reasons.append(Reason(kind, f"{kind} {party.hub_id} {party.name!r} is {state} to a {kind} of the "
                                f"accounting system{note}: link it, or allow create_missing_{kind}s", party.hub_id))
    return None


def party_fields(party: Party | None, kind: str, record: str) -> dict:
    """The suite's party fields (party, party_ref, party_linked, party_problem); raises Waiting."""
    reasons: list[Reason] = []
    external_id = linked_party_id(party, kind, record, reasons)
    return {"party": party.hub_id if party else None, "party_ref": external_id, "party_linked": external_id is not None,
            "party_problem": reasons[0].problem if reasons else None}
