"""MT messages can be withdrawn: taken back, still queued, when their recipient opts out

A post held for the recipient's quiet hours (or waiting behind a large fan-out) was sent even when
the recipient texted STOP or OFF in the meantime. Such messages now end `withdrawn` instead
(engine/social_sms/actions.py, `opt_out`), found by a partial index by destination of the queued
posts and direct messages: neither the sent history nor the replies (most MTs) are in it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# written out: a migration keeps what it did, whatever the schema module says later
STATES_BEFORE = ('queued', 'sending', 'submitted', 'delivered', 'undeliverable', 'expired', 'rejected', 'failed')
STATES_AFTER = STATES_BEFORE + ('withdrawn',)
QUEUED_WITHDRAWABLE = sa.text("state = 'queued' AND (message_class = 'fanout' OR message_class = 'dm')")


def _state_check(states: tuple[str, ...]) -> None:
    with op.batch_alter_table('mt_messages', schema=None) as batch_op:
        name = op.f('ck_mt_messages_state_known')
        batch_op.drop_constraint(name, type_='check')
        batch_op.create_check_constraint(name, " OR ".join(f"state = '{state}'" for state in states))


def upgrade() -> None:
    _state_check(STATES_AFTER)
    op.create_index('ix_mt_messages_queued_destination', 'mt_messages', ['destination_addr'], unique=False,
                    sqlite_where=QUEUED_WITHDRAWABLE, postgresql_where=QUEUED_WITHDRAWABLE)


def downgrade() -> None:
    op.drop_index('ix_mt_messages_queued_destination', table_name='mt_messages')
    op.execute("UPDATE mt_messages SET state = 'failed' WHERE state = 'withdrawn'")
    _state_check(STATES_BEFORE)
