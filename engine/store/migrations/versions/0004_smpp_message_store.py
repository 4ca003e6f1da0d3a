"""SMPP message store: sending state, USSD fields, MO parts, delivery receipts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa
import engine.store.types


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery_receipts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('smsc_message_id', sa.String(length=65), nullable=False),
    sa.Column('final_state', sa.String(length=14), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('done_at', engine.store.types.UtcDateTime(), nullable=True),
    sa.Column('received_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('applied', sa.Boolean(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_receipts'))
    )
    with op.batch_alter_table('delivery_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_receipts_applied_id'), ['applied', 'id'], unique=False)

    op.create_table('mo_parts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_addr', sa.String(length=21), nullable=False),
    sa.Column('destination_addr', sa.String(length=21), nullable=False),
    sa.Column('reference', sa.Integer(), nullable=False),
    sa.Column('parts_total', sa.SmallInteger(), nullable=False),
    sa.Column('part_number', sa.SmallInteger(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('data_coding', sa.SmallInteger(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=80), nullable=False),
    sa.Column('bind_name', sa.String(length=32), nullable=True),
    sa.Column('received_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mo_parts')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_mo_parts_dedupe_key'))
    )
    with op.batch_alter_table('mo_parts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mo_parts_source_addr_reference_parts_total'), ['source_addr', 'reference', 'parts_total'], unique=False)

    with op.batch_alter_table('mo_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=4), server_default='sms', nullable=False))
        batch_op.add_column(sa.Column('complete', sa.Boolean(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('ussd_service_op', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('its_session_info', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('user_message_reference', sa.Integer(), nullable=True))
        batch_op.alter_column('dedupe_key',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.String(length=80),
               existing_nullable=False)
        batch_op.create_check_constraint(op.f('ck_mo_messages_kind_known'), "kind IN ('sms', 'ussd')")

    with op.batch_alter_table('mt_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('in_message_payload', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('ussd_service_op', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('its_session_info', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', engine.store.types.UtcDateTime(), nullable=True))
        # Autogenerate does not see CHECK changes: `sending` is the new claimed-by-a-node state.
        batch_op.drop_constraint(op.f('ck_mt_messages_state_known'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_mt_messages_state_known'),
            "state IN ('queued', 'sending', 'submitted', 'delivered', 'undeliverable', 'expired', 'rejected', 'failed')",
        )



def downgrade() -> None:
    with op.batch_alter_table('mt_messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_mt_messages_state_known'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_mt_messages_state_known'),
            "state IN ('queued', 'submitted', 'delivered', 'undeliverable', 'expired', 'rejected', 'failed')",
        )
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('its_session_info')
        batch_op.drop_column('ussd_service_op')
        batch_op.drop_column('in_message_payload')

    with op.batch_alter_table('mo_messages', schema=None) as batch_op:
        batch_op.alter_column('dedupe_key',
               existing_type=sa.String(length=80),
               type_=sa.VARCHAR(length=64),
               existing_nullable=False)
        batch_op.drop_constraint(op.f('ck_mo_messages_kind_known'), type_='check')
        batch_op.drop_column('user_message_reference')
        batch_op.drop_column('its_session_info')
        batch_op.drop_column('ussd_service_op')
        batch_op.drop_column('complete')
        batch_op.drop_column('kind')

    with op.batch_alter_table('mo_parts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mo_parts_source_addr_reference_parts_total'))

    op.drop_table('mo_parts')
    with op.batch_alter_table('delivery_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_receipts_applied_id'))

    op.drop_table('delivery_receipts')
