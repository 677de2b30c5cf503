"""A vendor (supplier)."""
from ledgerbridge.kinds.party import PartyRecordKind
from ledgerbridge.ledger.models import Party, RecordType
from ledgerbridge.registry import Flow

KIND = PartyRecordKind(name="vendor", record_type=RecordType.PARTY, model=Party, dataset="vendors",
                       flow=Flow.PARTIES, mirror_kind="vendor")
