"""changes after export: a document's version (changes the accounting system follows), an outbox
operation's target, a line's tax code; the source an entity is pinned to

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 13:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('document_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tax_code', sa.String(length=100), nullable=True))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('target_id', sa.String(length=64), nullable=True))
    with op.batch_alter_table('legal_entities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_identity', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('legal_entities', schema=None) as batch_op:
        batch_op.drop_column('source_identity')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('target_id')
    with op.batch_alter_table('document_lines', schema=None) as batch_op:
        batch_op.drop_column('tax_code')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('version')
