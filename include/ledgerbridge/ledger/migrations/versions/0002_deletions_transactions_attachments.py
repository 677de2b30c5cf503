"""reference mirror: deletions, transactions' party, longer kinds; attachments; outbox leases

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
    op.create_table('attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ),
    sa.ForeignKeyConstraint(['entity_id'], ['legal_entities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('document_id', 'file_name')
    )
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachments_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attachments_entity_id'), ['entity_id'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('record_type', existing_type=sa.String(length=16), type_=sa.String(length=18),
                              existing_nullable=False)
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('claim_expires_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('reference_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('party_external_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', ledgerbridge.ledger.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.alter_column('kind', existing_type=sa.String(length=18), type_=sa.String(length=22),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('claim_expires_at')
        batch_op.drop_column('claimed_by')
        batch_op.alter_column('record_type', existing_type=sa.String(length=18), type_=sa.String(length=16),
                              existing_nullable=False)
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachments_entity_id'))
        batch_op.drop_index(batch_op.f('ix_attachments_document_id'))
    op.drop_table('attachments')
    with op.batch_alter_table('reference_records', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=sa.String(length=22), type_=sa.String(length=18),
                              existing_nullable=False)
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('party_external_id')
