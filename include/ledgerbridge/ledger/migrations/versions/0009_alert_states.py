"""each entity's open problems as last said to its people, so that an alert goes out once per problem

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 21:40:00
"""
import sqlalchemy as sa
from alembic import op

import ledgerbridge.ledger.types


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alert_states',
        sa.Column('entity_id', sa.String(length=64), sa.ForeignKey('legal_entities.id'), primary_key=True),
        sa.Column('kind', sa.String(length=40), primary_key=True),
        sa.Column('state', sa.String(length=300), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('opened_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('said_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('run_id', sa.String(length=250), nullable=True),
    )


def downgrade() -> None:
    op.drop_table('alert_states')
