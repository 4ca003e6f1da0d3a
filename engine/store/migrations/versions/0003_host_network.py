"""host network records

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa
import engine.store.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lifecycle_events',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=16), nullable=False),
    sa.Column('msisdn', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('applied_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.CheckConstraint("event_type IN ('sim_activation', 'sim_swap', 'msisdn_change', 'port_out', 'termination')", name=op.f('ck_lifecycle_events_event_type_known')),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_lifecycle_events'))
    )
    op.create_table('provisioning_files',
    sa.Column('sequence', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('request_count', sa.Integer(), nullable=False),
    sa.Column('written_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sequence', name=op.f('pk_provisioning_files')),
    sa.UniqueConstraint('name', name=op.f('uq_provisioning_files_name'))
    )
    op.create_table('wholesale_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wholesale_adjustments'))
    )
    with op.batch_alter_table('wholesale_adjustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wholesale_adjustments_period_id'), ['period', 'id'], unique=False)

    op.create_table('wholesale_statements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('received_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wholesale_statements'))
    )
    with op.batch_alter_table('wholesale_statements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wholesale_statements_period_id'), ['period', 'id'], unique=False)

    op.create_table('wholesale_statement_lines',
    sa.Column('statement_id', sa.Integer(), nullable=False),
    sa.Column('service', sa.String(length=8), nullable=False),
    sa.Column('records', sa.BigInteger(), nullable=False),
    sa.Column('volume', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("service IN ('voice', 'sms', 'data')", name=op.f('ck_wholesale_statement_lines_service_known')),
    sa.ForeignKeyConstraint(['statement_id'], ['wholesale_statements.id'], name=op.f('fk_wholesale_statement_lines_statement_id_wholesale_statements')),
    sa.PrimaryKeyConstraint('statement_id', 'service', name=op.f('pk_wholesale_statement_lines'))
    )
    op.create_table('provisioning_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=12), nullable=False),
    sa.Column('msisdn', sa.String(length=16), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('plan_code', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('file_sequence', sa.Integer(), nullable=True),
    sa.Column('created_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('last_sent_at', engine.store.types.UtcDateTime(), nullable=True),
    sa.Column('overdue_since', engine.store.types.UtcDateTime(), nullable=True),
    sa.Column('acknowledged_at', engine.store.types.UtcDateTime(), nullable=True),
    sa.Column('answer_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("action IN ('activate', 'change_plan', 'suspend', 'restore', 'terminate')", name=op.f('ck_provisioning_requests_action_known')),
    sa.CheckConstraint("state IN ('queued', 'sent', 'accepted', 'rejected')", name=op.f('ck_provisioning_requests_state_known')),
    sa.ForeignKeyConstraint(['file_sequence'], ['provisioning_files.sequence'], name=op.f('fk_provisioning_requests_file_sequence_provisioning_files')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_provisioning_requests_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provisioning_requests')),
    sa.UniqueConstraint('request_id', name=op.f('uq_provisioning_requests_request_id'))
    )
    with op.batch_alter_table('provisioning_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provisioning_requests_msisdn_state'), ['msisdn', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_provisioning_requests_state_id'), ['state', 'id'], unique=False)

    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('iccid', sa.String(length=22), nullable=True))
        batch_op.add_column(sa.Column('imsi', sa.String(length=15), nullable=True))
        batch_op.create_index('ix_subscribers_iccid', ['iccid'], unique=True)
        batch_op.create_index('ix_subscribers_imsi', ['imsi'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_index('ix_subscribers_imsi')
        batch_op.drop_index('ix_subscribers_iccid')
        batch_op.drop_column('imsi')
        batch_op.drop_column('iccid')

    with op.batch_alter_table('provisioning_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provisioning_requests_state_id'))
        batch_op.drop_index(batch_op.f('ix_provisioning_requests_msisdn_state'))

    op.drop_table('provisioning_requests')
    op.drop_table('wholesale_statement_lines')
    with op.batch_alter_table('wholesale_statements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wholesale_statements_period_id'))

    op.drop_table('wholesale_statements')
    with op.batch_alter_table('wholesale_adjustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wholesale_adjustments_period_id'))

    op.drop_table('wholesale_adjustments')
    op.drop_table('provisioning_files')
    op.drop_table('lifecycle_events')
