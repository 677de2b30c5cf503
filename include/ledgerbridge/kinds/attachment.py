"""A supporting document (scanned invoice, receipt), attached once its document is confirmed there."""
from __future__ import annotations

from dataclasses import dataclass

from ledgerbridge.connectors.base import AttachmentExport
from ledgerbridge.kinds.base import RecordKind
from ledgerbridge.ledger.models import Attachment, RecordType


@dataclass(frozen=True)
class AttachmentRecordKind(RecordKind):
    def export(self, attachment: Attachment, document_kind: str, document_hub_id: str,
               document_external_id: str) -> AttachmentExport:
        # The document's kind in the key too: a bill and an invoice may share a hub id and a file name.
        return AttachmentExport(f"{document_kind}:{document_hub_id}/{attachment.file_name}", attachment.file_name,
                                attachment.content_type, document_kind, document_external_id)


KIND = AttachmentRecordKind(name="attachment", record_type=RecordType.ATTACHMENT, model=Attachment,
                            dataset="attachments", flow=None)
