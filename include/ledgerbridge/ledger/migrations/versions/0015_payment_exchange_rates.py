"""a foreign payment's exchange rate (the source's, else the accounting system's for its date) and its amount in
home currency

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 13:30:00
"""
import sqlalchemy as sa
from alembic import op

import ledgerbridge.ledger.types


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments') as batch:
        batch.add_column(sa.Column('exchange_rate', ledgerbridge.ledger.types.ExchangeRate(), nullable=True))
        batch.add_column(sa.Column('home_amount', ledgerbridge.ledger.types.Money(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('payments') as batch:
        batch.drop_column('home_amount')
        batch.drop_column('exchange_rate')
