"""a foreign document's exchange rate and home-currency total, a line's tax amount, the bank account of bank
entries and expense reports

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 08:50:00
"""
import sqlalchemy as sa
from alembic import op

import ledgerbridge.ledger.types


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents') as batch:
        batch.add_column(sa.Column('exchange_rate', ledgerbridge.ledger.types.ExchangeRate(), nullable=True))
        batch.add_column(sa.Column('home_total', ledgerbridge.ledger.types.Money(), nullable=True))
        batch.add_column(sa.Column('bank_account', sa.String(length=100), nullable=True))
    with op.batch_alter_table('document_lines') as batch:
        batch.add_column(sa.Column('tax_amount', ledgerbridge.ledger.types.Money(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('document_lines') as batch:
        batch.drop_column('tax_amount')
    with op.batch_alter_table('documents') as batch:
        batch.drop_column('bank_account')
        batch.drop_column('home_total')
        batch.drop_column('exchange_rate')
