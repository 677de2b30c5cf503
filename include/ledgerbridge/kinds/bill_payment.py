"""A payment made to a vendor, applied to its bills (partial payments included)."""
from ledgerbridge.connectors.base import BillPaymentExport
from ledgerbridge.kinds import bill
from ledgerbridge.kinds.payment import PaymentRecordKind
from ledgerbridge.ledger.models import Payment, RecordType
from ledgerbridge.registry import Flow


def _export(payment: Payment, vendor_id: str, bank_account_id: str | None, applied,
            payables_account_id: str | None) -> BillPaymentExport:
    return BillPaymentExport(payment.hub_id, vendor_id, payment.payment_date, payment.amount, payment.currency,
                             bank_account_id, applied, payment.reference, payables_account_id)


KIND = PaymentRecordKind(name="bill_payment", record_type=RecordType.PAYMENT, model=Payment, dataset="bill_payments",
                         flow=Flow.BILL_PAYMENTS, party_role="vendor", mirror_kind="bill_payment",
                         ledger_kind="bill_payment", pays=bill.KIND, account_required=True, build=_export)
