"""outbox: the core's record kind instead of QuickBooks' object name; document number and party beside the payload

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:30:00
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# QuickBooks Online object names the outbox held before -> record kinds (ledgerbridge.kinds).
KINDS = {"Vendor": "vendor", "Customer": "customer", "Bill": "bill", "BillPayment": "bill_payment",
         "Invoice": "invoice", "Payment": "customer_payment", "JournalEntry": "journal_entry",
         "Attachable": "attachment"}
# Where each connector's payload held the number and the party (QuickBooks Online; the file drop).
NUMBER_FIELDS = ("DocNumber", "bill_number", "invoice_number", "journal_number")
PARTY_FIELDS = (("VendorRef", "value"), ("CustomerRef", "value"), ("vendor", "external_id"),
                ("customer", "external_id"))


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('target', new_column_name='kind', existing_type=sa.String(length=40),
                              existing_nullable=False)
        batch_op.add_column(sa.Column('doc_number', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('party_ref', sa.String(length=64), nullable=True))
    outbox = sa.table('outbox', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                      sa.column('payload', sa.Text), sa.column('doc_number', sa.String),
                      sa.column('party_ref', sa.String))
    connection = op.get_bind()
    for row_id, old, payload in connection.execute(sa.select(outbox.c.id, outbox.c.kind, outbox.c.payload)).all():
        body = json.loads(payload) if isinstance(payload, str) else (payload or {})
        number = next((str(body[name]) for name in NUMBER_FIELDS if body.get(name)), None)
        party = next((str(body[ref][key]) for ref, key in PARTY_FIELDS
                      if isinstance(body.get(ref), dict) and body[ref].get(key)), None)
        connection.execute(sa.update(outbox).where(outbox.c.id == row_id).values(
            kind=KINDS.get(old, old), doc_number=number, party_ref=party))


def downgrade() -> None:
    outbox = sa.table('outbox', sa.column('kind', sa.String))
    for old, kind in KINDS.items():
        op.execute(sa.update(outbox).where(outbox.c.kind == kind).values(kind=old))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('party_ref')
        batch_op.drop_column('doc_number')
        batch_op.alter_column('kind', new_column_name='target', existing_type=sa.String(length=40),
                              existing_nullable=False)
