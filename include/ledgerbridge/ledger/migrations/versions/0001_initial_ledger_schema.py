"""initial ledger schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 11:49:53.619845
"""
from alembic import op
import sqlalchemy as sa
import ledgerbridge.ledger.types


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('subject_type', sa.String(length=40), nullable=True),
    sa.Column('subject_id', sa.String(length=100), nullable=True),
    sa.Column('detail', ledgerbridge.ledger.types.DecimalJSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_entity_id'), ['entity_id'], unique=False)

    op.create_table('legal_entities',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('base_currency', sa.String(length=3), nullable=False),
    sa.Column('accounting_kind', sa.String(length=40), nullable=False),
    sa.Column('conn_id', sa.String(length=200), nullable=False),
    sa.Column('company_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('oauth_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conn_id', sa.String(length=200), nullable=False),
    sa.Column('company_id', sa.String(length=64), nullable=False),
    sa.Column('seed_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('refresh_token', sa.Text(), nullable=False),
    sa.Column('access_token', sa.Text(), nullable=True),
    sa.Column('access_expires_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('conn_id', 'company_id')
    )
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('record_type', sa.String(length=16), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('record_key', sa.String(length=200), nullable=False),
    sa.Column('operation', sa.String(length=20), nullable=False),
    sa.Column('target', sa.String(length=40), nullable=False),
    sa.Column('company_id', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=17), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('payload', ledgerbridge.ledger.types.DecimalJSON(), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('written_back_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'record_type', 'record_id', 'operation'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_entity_state', ['entity_id', 'state'], unique=False)

    op.create_table('parties',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('hub_id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('tax_id', sa.String(length=100), nullable=True),
    sa.Column('city', sa.String(length=200), nullable=True),
    sa.Column('postcode', sa.String(length=40), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('created_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'kind', 'hub_id')
    )
    with op.batch_alter_table('parties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_parties_entity_id'), ['entity_id'], unique=False)

    op.create_table('purchase_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('vendor_external_id', sa.String(length=64), nullable=True),
    sa.Column('doc_number', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('txn_date', sa.Date(), nullable=True),
    sa.Column('total', ledgerbridge.ledger.types.Money(precision=19, scale=4), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('data', ledgerbridge.ledger.types.DecimalJSON(), nullable=False),
    sa.Column('source_updated_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'external_id')
    )
    with op.batch_alter_table('purchase_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_orders_entity_id'), ['entity_id'], unique=False)

    op.create_table('quarantine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('dataset', sa.String(length=60), nullable=False),
    sa.Column('record_key', sa.String(length=200), nullable=False),
    sa.Column('reasons', ledgerbridge.ledger.types.DecimalJSON(), nullable=False),
    sa.Column('payload', ledgerbridge.ledger.types.DecimalJSON(), nullable=False),
    sa.Column('status', sa.String(length=17), nullable=False),
    sa.Column('first_seen_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'dataset', 'record_key')
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantine_entity_id'), ['entity_id'], unique=False)

    op.create_table('reference_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=18), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=True),
    sa.Column('number', sa.String(length=100), nullable=True),
    sa.Column('account_type', sa.String(length=100), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('tax_id', sa.String(length=100), nullable=True),
    sa.Column('city', sa.String(length=200), nullable=True),
    sa.Column('postcode', sa.String(length=40), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('data', ledgerbridge.ledger.types.DecimalJSON(), nullable=False),
    sa.Column('source_updated_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('synced_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'kind', 'external_id')
    )
    with op.batch_alter_table('reference_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reference_records_entity_id'), ['entity_id'], unique=False)

    op.create_table('sync_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('step', sa.String(length=60), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('params', ledgerbridge.ledger.types.DecimalJSON(), nullable=False),
    sa.Column('summary', ledgerbridge.ledger.types.DecimalJSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'run_id', 'step')
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_runs_entity_id'), ['entity_id'], unique=False)

    op.create_table('watermarks',
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=60), nullable=False),
    sa.Column('value', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.PrimaryKeyConstraint('entity_id', 'stream')
    )
    op.create_table('documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=21), nullable=False),
    sa.Column('hub_id', sa.String(length=100), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=True),
    sa.Column('doc_number', sa.String(length=100), nullable=True),
    sa.Column('doc_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total', ledgerbridge.ledger.types.Money(precision=19, scale=4), nullable=False),
    sa.Column('memo', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('synced_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paid_status', sa.String(length=22), nullable=False),
    sa.Column('open_balance', ledgerbridge.ledger.types.Money(precision=19, scale=4), nullable=True),
    sa.Column('created_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'kind', 'hub_id')
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_entity_id'), ['entity_id'], unique=False)

    op.create_table('party_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=22), nullable=False),
    sa.Column('method', sa.String(length=40), nullable=False),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('candidates', ledgerbridge.ledger.types.DecimalJSON(), nullable=False),
    sa.Column('decided_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('party_id')
    )
    with op.batch_alter_table('party_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_party_links_entity_id'), ['entity_id'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('hub_id', sa.String(length=100), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=True),
    sa.Column('payment_date', sa.Date(), nullable=False),
    sa.Column('amount', ledgerbridge.ledger.types.Money(precision=19, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('bank_account_code', sa.String(length=100), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('synced_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'kind', 'hub_id')
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_entity_id'), ['entity_id'], unique=False)

    op.create_table('document_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('account_code', sa.String(length=100), nullable=True),
    sa.Column('class_code', sa.String(length=100), nullable=True),
    sa.Column('item_code', sa.String(length=100), nullable=True),
    sa.Column('quantity', ledgerbridge.ledger.types.Money(precision=19, scale=4), nullable=True),
    sa.Column('unit_price', ledgerbridge.ledger.types.Money(precision=19, scale=4), nullable=True),
    sa.Column('amount', ledgerbridge.ledger.types.Money(precision=19, scale=4), nullable=False),
    sa.Column('posting_type', sa.String(length=6), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('document_id', 'line_no')
    )
    with op.batch_alter_table('document_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_lines_document_id'), ['document_id'], unique=False)

    op.create_table('payment_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('amount', ledgerbridge.ledger.types.Money(precision=19, scale=4), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('payment_id', 'document_id')
    )
    with op.batch_alter_table('payment_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_applications_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_applications_payment_id'), ['payment_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payment_applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_applications_payment_id'))
        batch_op.drop_index(batch_op.f('ix_payment_applications_document_id'))

    op.drop_table('payment_applications')
    with op.batch_alter_table('document_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_lines_document_id'))

    op.drop_table('document_lines')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_entity_id'))

    op.drop_table('payments')
    with op.batch_alter_table('party_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_party_links_entity_id'))

    op.drop_table('party_links')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_entity_id'))

    op.drop_table('documents')
    op.drop_table('watermarks')
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_runs_entity_id'))

    op.drop_table('sync_runs')
    with op.batch_alter_table('reference_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reference_records_entity_id'))

    op.drop_table('reference_records')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantine_entity_id'))

    op.drop_table('quarantine')
    with op.batch_alter_table('purchase_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_orders_entity_id'))

    op.drop_table('purchase_orders')
    with op.batch_alter_table('parties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_parties_entity_id'))

    op.drop_table('parties')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_entity_state')

    op.drop_table('outbox')
    op.drop_table('oauth_tokens')
    op.drop_table('legal_entities')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_entity_id'))
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
