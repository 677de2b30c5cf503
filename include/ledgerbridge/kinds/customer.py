"""A customer."""
from ledgerbridge.kinds.party import PartyRecordKind
from ledgerbridge.ledger.models import Party, RecordType
from ledgerbridge.registry import Flow

KIND = PartyRecordKind(name="customer", record_type=RecordType.PARTY, model=Party, dataset="customers",
                       flow=Flow.PARTIES, mirror_kind="customer")
