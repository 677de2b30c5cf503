"""Vendors and customers the hub knows, created in the accounting system when the policy says so."""
from __future__ import annotations

from dataclasses import dataclass

from ledgerbridge.connectors.base import PartyExport
from ledgerbridge.kinds.base import RecordKind
from ledgerbridge.ledger.models import Party


@dataclass(frozen=True)
class PartyRecordKind(RecordKind):
    def export(self, party: Party) -> PartyExport:
        return PartyExport(self.name, party.name, party.email, party.currency, party.hub_id, party.auxiliary_account)
