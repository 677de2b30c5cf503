"""the journal a document goes to, by code (QuickBooks France's JournalCode, an entry file's journal)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:20:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents') as batch:
        batch.add_column(sa.Column('journal_code', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('documents') as batch:
        batch.drop_column('journal_code')
