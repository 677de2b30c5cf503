"""reference mirror: deletions, transactions' party, longer kinds

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 13:10:00
"""
from alembic import op
import sqlalchemy as sa
import ledgerbridge.ledger.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reference_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('party_external_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.alter_column('kind', existing_type=sa.String(length=18), type_=sa.String(length=22),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('reference_records', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=sa.String(length=22), type_=sa.String(length=18),
                              existing_nullable=False)
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('party_external_id')
