"""usage records and rating

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa
import engine.store.types


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('closed_periods',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('closed_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('period', name=op.f('pk_closed_periods'))
    )
    op.create_table('usage_records',
    sa.Column('record_id', sa.Text(), nullable=False),
    sa.Column('msisdn', sa.Text(), nullable=False),
    sa.Column('service', sa.String(length=5), nullable=False),
    sa.Column('start_epoch', sa.BigInteger(), nullable=False),
    sa.Column('duration_s', sa.BigInteger(), nullable=False),
    sa.Column('volume_bytes', sa.BigInteger(), nullable=False),
    sa.Column('called_number', sa.Text(), nullable=False),
    sa.Column('roaming_zone', sa.Text(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('plan_code', sa.String(length=32), nullable=False),
    sa.Column('zone', sa.String(length=32), nullable=False),
    sa.Column('band', sa.String(length=32), nullable=False),
    sa.Column('included', sa.BigInteger(), nullable=False),
    sa.Column('chargeable', sa.BigInteger(), nullable=False),
    sa.Column('billed', sa.BigInteger(), nullable=False),
    sa.Column('retail_micros', sa.BigInteger(), nullable=False),
    sa.Column('wholesale_micros', sa.BigInteger(), nullable=False),
    sa.Column('bill_period', sa.String(length=7), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_usage_records'))
    )
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usage_records_start_epoch'), ['start_epoch'], unique=False)

    op.create_table('usage_suspense',
    sa.Column('record_id', sa.Text(), nullable=False),
    sa.Column('msisdn', sa.Text(), nullable=False),
    sa.Column('service', sa.String(length=5), nullable=False),
    sa.Column('start_epoch', sa.BigInteger(), nullable=False),
    sa.Column('duration_s', sa.BigInteger(), nullable=False),
    sa.Column('volume_bytes', sa.BigInteger(), nullable=False),
    sa.Column('called_number', sa.Text(), nullable=False),
    sa.Column('roaming_zone', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('received_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('last_tried_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='1', nullable=False),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_usage_suspense'))
    )
    op.create_table('usage_totals',
    sa.Column('msisdn', sa.Text(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('bill_period', sa.String(length=7), nullable=False),
    sa.Column('service', sa.String(length=5), nullable=False),
    sa.Column('records', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('included', sa.BigInteger(), nullable=False),
    sa.Column('billed', sa.BigInteger(), nullable=False),
    sa.Column('retail_micros', sa.BigInteger(), nullable=False),
    sa.Column('wholesale_micros', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('msisdn', 'period', 'bill_period', 'service', name=op.f('pk_usage_totals'))
    )
    with op.batch_alter_table('usage_totals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usage_totals_period_service'), ['period', 'service'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('usage_totals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_usage_totals_period_service'))

    op.drop_table('usage_totals')
    op.drop_table('usage_suspense')
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_usage_records_start_epoch'))

    op.drop_table('usage_records')
    op.drop_table('closed_periods')
