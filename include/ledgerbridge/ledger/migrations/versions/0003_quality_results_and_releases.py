"""data quality: suite results per run; a person's release of a quarantined record

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 15:30:00
"""
from alembic import op
import sqlalchemy as sa
import ledgerbridge.ledger.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quality_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('step', sa.String(length=60), nullable=False),
    sa.Column('suite', sa.String(length=60), nullable=False),
    sa.Column('suite_version', sa.String(length=20), nullable=False),
    sa.Column('checked', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('systemic', sa.Boolean(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('result', ledgerbridge.ledger.types.DecimalJSON(), nullable=False),
    sa.Column('created_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'run_id', 'step', 'suite')
    )
    with op.batch_alter_table('quality_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quality_results_entity_id'), ['entity_id'], unique=False)
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waived', ledgerbridge.ledger.types.DecimalJSON(), nullable=False,
                                      server_default='[]'))
        batch_op.add_column(sa.Column('decided_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('decision_note', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_column('decision_note')
        batch_op.drop_column('decided_by')
        batch_op.drop_column('waived')
    with op.batch_alter_table('quality_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quality_results_entity_id'))
    op.drop_table('quality_results')
