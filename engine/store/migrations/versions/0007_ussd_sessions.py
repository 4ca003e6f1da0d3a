"""USSD sessions: dialogues in progress, and user_message_reference on MTs

`ussd_sessions` keeps a USSD dialogue between its MO messages and across engine nodes; rows live
until `expires_at` and are deleted by the periodic sweep (engine/social_sms/ussd_store.py).
`mt_messages.user_message_reference` lets a USSD reply echo the indication's reference, which
gateways in that key mode match the reply by.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa
import engine.store.types


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ussd_sessions',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('msisdn', sa.String(length=21), nullable=False),
    sa.Column('menu_state', sa.JSON(), nullable=False),
    sa.Column('its_session_info', sa.Integer(), nullable=True),
    sa.Column('user_message_reference', sa.Integer(), nullable=True),
    sa.Column('opened_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('last_seen_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('expires_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.Column('ended', sa.Boolean(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_ussd_sessions'))
    )
    with op.batch_alter_table('ussd_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ussd_sessions_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('mt_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_message_reference', sa.Integer(), nullable=True))

def downgrade() -> None:
    with op.batch_alter_table('mt_messages', schema=None) as batch_op:
        batch_op.drop_column('user_message_reference')

    with op.batch_alter_table('ussd_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ussd_sessions_expires_at'))

    op.drop_table('ussd_sessions')
