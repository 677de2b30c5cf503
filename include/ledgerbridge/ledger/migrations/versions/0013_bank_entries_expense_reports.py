"""bank entries and expense reports: documents.kind wide enough for "expense_report", an expense line's date

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 02:20:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents') as batch:
        batch.alter_column('kind', existing_type=sa.String(length=21), type_=sa.String(length=22),
                           existing_nullable=False)
    with op.batch_alter_table('document_lines') as batch:
        batch.add_column(sa.Column('line_date', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('document_lines') as batch:
        batch.drop_column('line_date')
    with op.batch_alter_table('documents') as batch:
        batch.alter_column('kind', existing_type=sa.String(length=22), type_=sa.String(length=21),
                           existing_nullable=False)
