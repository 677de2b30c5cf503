"""one entity per accounting company and per source, held by the database (two runs pinning at once)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 04:40:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    for column in ("company_id", "source_identity"):
        shared = connection.execute(sa.text(
            f"SELECT {column}, MIN(id), MAX(id) FROM legal_entities WHERE {column} IS NOT NULL "
            f"GROUP BY {column} HAVING COUNT(*) > 1")).all()
        if shared:  # the race this guards against already happened: a person decides which entity keeps it
            raise RuntimeError(
                f"legal_entities.{column}: " + "; ".join(f"{value!r} is pinned by {first!r} and {last!r}"
                                                         for value, first, last in shared)
                + ". Re-pin all but one (`ledgerbridge entity repin <id>`), then migrate again.")
    op.create_index('uq_legal_entities_company_id', 'legal_entities', ['company_id'], unique=True)
    op.create_index('uq_legal_entities_source_identity', 'legal_entities', ['source_identity'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_legal_entities_source_identity', table_name='legal_entities')
    op.drop_index('uq_legal_entities_company_id', table_name='legal_entities')
