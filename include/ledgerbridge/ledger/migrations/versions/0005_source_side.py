"""source side: the items written back to each entity's source, exactly once

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import ledgerbridge.ledger.types


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('source_write_backs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('record_kind', sa.String(length=30), nullable=False),
    sa.Column('record_key', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('item', ledgerbridge.ledger.types.DecimalJSON(), nullable=False),
    sa.Column('state', sa.String(length=15), nullable=False),
    sa.Column('batch_key', sa.String(length=64), nullable=True),
    sa.Column('location', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=250), nullable=True),
    sa.Column('claim_expires_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('written_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('source_write_backs', schema=None) as batch_op:
        batch_op.create_index('ix_source_write_backs_entity_state', ['entity_id', 'state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('source_write_backs', schema=None) as batch_op:
        batch_op.drop_index('ix_source_write_backs_entity_state')
    op.drop_table('source_write_backs')
