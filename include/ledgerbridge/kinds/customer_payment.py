"""A payment received from a customer, applied to its invoices (partial payments included)."""
from ledgerbridge.connectors.base import CustomerPaymentExport
from ledgerbridge.kinds import invoice
from ledgerbridge.kinds.payment import PaymentRecordKind
from ledgerbridge.ledger.models import Payment, RecordType
from ledgerbridge.registry import Flow


def _export(payment: Payment, customer_id: str, deposit_account_id: str | None, applied,
            receivables_account_id: str | None) -> CustomerPaymentExport:
    return CustomerPaymentExport(payment.hub_id, customer_id, payment.payment_date, payment.amount, payment.currency,
                                 deposit_account_id, applied, payment.reference, receivables_account_id)


# Without a deposit account QuickBooks puts a customer payment in Undeposited Funds.
KIND = PaymentRecordKind(name="customer_payment", record_type=RecordType.PAYMENT, model=Payment,
                         dataset="customer_payments", flow=Flow.CUSTOMER_PAYMENTS, party_role="customer",
                         mirror_kind="payment", ledger_kind="customer_payment", pays=invoice.KIND,
                         account_required=False, build=_export)
