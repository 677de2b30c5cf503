"""each entity's last run as the operators' pages show it, on its row

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 18:40:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Written by each step (ledgerbridge.status.record_standing); the entities page reads these instead of
    # decoding every entity's step summaries (bench/ui_pages.py). NULL until an entity's next step: the page
    # then reads that entity's latest run from sync_runs.
    with op.batch_alter_table('legal_entities') as batch:
        batch.add_column(sa.Column('last_run', sa.Text(), nullable=True))  # DecimalJSON


def downgrade() -> None:
    with op.batch_alter_table('legal_entities') as batch:
        batch.drop_column('last_run')
