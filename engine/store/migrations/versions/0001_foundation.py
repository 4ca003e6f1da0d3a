"""foundation: subscribers, causes, message store

Revision ID: 0001
Revises: 
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa
import engine.store.types


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('causes',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('created_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_causes'))
    )
    op.create_table('mo_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_addr', sa.String(length=21), nullable=False),
    sa.Column('destination_addr', sa.String(length=21), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('data_coding', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('dedupe_key', sa.String(length=64), nullable=False),
    sa.Column('bind_name', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=10), server_default='received', nullable=False),
    sa.Column('received_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('handled_at', engine.store.types.UtcDateTime(), nullable=True),
    sa.Column('claimed_by', sa.String(length=32), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("state IN ('received', 'handled', 'failed')", name=op.f('ck_mo_messages_state_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mo_messages')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_mo_messages_dedupe_key'))
    )
    with op.batch_alter_table('mo_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mo_messages_state_id'), ['state', 'id'], unique=False)

    op.create_table('mt_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('destination_addr', sa.String(length=21), nullable=False),
    sa.Column('source_addr', sa.String(length=21), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('message_class', sa.String(length=12), nullable=False),
    sa.Column('group_ref', sa.Integer(), nullable=True),
    sa.Column('part_number', sa.SmallInteger(), server_default='1', nullable=False),
    sa.Column('parts_total', sa.SmallInteger(), server_default='1', nullable=False),
    sa.Column('short_message', sa.LargeBinary(), nullable=False),
    sa.Column('data_coding', sa.SmallInteger(), nullable=False),
    sa.Column('esm_class', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('state', sa.String(length=14), server_default='queued', nullable=False),
    sa.Column('not_before', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('bind_name', sa.String(length=32), nullable=True),
    sa.Column('smsc_message_id', sa.String(length=65), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('reply_to_mo_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('claimed_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('submitted_at', engine.store.types.UtcDateTime(), nullable=True),
    sa.Column('done_at', engine.store.types.UtcDateTime(), nullable=True),
    sa.CheckConstraint("state IN ('queued', 'submitted', 'delivered', 'undeliverable', 'expired', 'rejected', 'failed')", name=op.f('ck_mt_messages_state_known')),
    sa.ForeignKeyConstraint(['reply_to_mo_id'], ['mo_messages.id'], name=op.f('fk_mt_messages_reply_to_mo_id_mo_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mt_messages'))
    )
    with op.batch_alter_table('mt_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mt_messages_smsc_message_id'), ['smsc_message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mt_messages_state_not_before_id'), ['state', 'not_before', 'id'], unique=False)

    op.create_table('subscribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('msisdn', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('language', sa.String(length=2), server_default='en', nullable=False),
    sa.Column('plan_code', sa.String(length=32), nullable=True),
    sa.Column('cause_code', sa.String(length=32), nullable=True),
    sa.Column('handle', sa.String(length=15), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('opted_out', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('notifications_on', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('created_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('updated_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('line', 'social')", name=op.f('ck_subscribers_kind_known')),
    sa.CheckConstraint("msisdn LIKE '+%'", name=op.f('ck_subscribers_msisdn_e164')),
    sa.CheckConstraint("status IN ('activating', 'active', 'suspended', 'terminated')", name=op.f('ck_subscribers_status_known')),
    sa.ForeignKeyConstraint(['cause_code'], ['causes.code'], name=op.f('fk_subscribers_cause_code_causes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscribers')),
    sa.UniqueConstraint('handle', name=op.f('uq_subscribers_handle')),
    sa.UniqueConstraint('msisdn', name=op.f('uq_subscribers_msisdn'))
    )


def downgrade() -> None:
    op.drop_table('subscribers')
    with op.batch_alter_table('mt_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mt_messages_state_not_before_id'))
        batch_op.drop_index(batch_op.f('ix_mt_messages_smsc_message_id'))

    op.drop_table('mt_messages')
    with op.batch_alter_table('mo_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mo_messages_state_id'))

    op.drop_table('mo_messages')
    op.drop_table('causes')
