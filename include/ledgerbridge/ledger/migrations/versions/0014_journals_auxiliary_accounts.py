"""journal codes and auxiliary accounts: a party's sub-ledger account on both sides, the journals the source declares

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 06:40:00
"""
import sqlalchemy as sa
from alembic import op

import ledgerbridge.ledger.types


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reference_records') as batch:
        batch.add_column(sa.Column('auxiliary_account', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('collective_account', sa.String(length=64), nullable=True))
    with op.batch_alter_table('parties') as batch:
        batch.add_column(sa.Column('auxiliary_account', sa.String(length=100), nullable=True))
    op.create_table(
        'source_journals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entity_id', sa.String(length=64), nullable=False),
        sa.Column('code', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('journal_type', sa.String(length=20), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('updated_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('entity_id', 'code'),
    )
    op.create_index(op.f('ix_source_journals_entity_id'), 'source_journals', ['entity_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_source_journals_entity_id'), table_name='source_journals')
    op.drop_table('source_journals')
    with op.batch_alter_table('parties') as batch:
        batch.drop_column('auxiliary_account')
    with op.batch_alter_table('reference_records') as batch:
        batch.drop_column('collective_account')
        batch.drop_column('auxiliary_account')
