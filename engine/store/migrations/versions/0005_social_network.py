"""Social network: follows, posts, action counts, flood buckets, pending gives, gifts

Rows point at subscribers by id (a number change keeps a person's graph); a followee or author is
a subscriber or a cause, exactly one (the CHECKs). See engine/social_sms/sql_repository.py.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa
import engine.store.types


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sms_throttles',
    sa.Column('msisdn', sa.String(length=16), nullable=False),
    sa.Column('milli_tokens', sa.Integer(), nullable=False),
    sa.Column('updated_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('msisdn', name=op.f('pk_sms_throttles'))
    )
    op.create_table('follows',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('follower_id', sa.Integer(), nullable=False),
    sa.Column('followee_id', sa.Integer(), nullable=True),
    sa.Column('followee_cause', sa.String(length=32), nullable=True),
    sa.Column('notify', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('created_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.CheckConstraint('(followee_id IS NULL) <> (followee_cause IS NULL)', name=op.f('ck_follows_one_followee')),
    sa.ForeignKeyConstraint(['followee_cause'], ['causes.code'], name=op.f('fk_follows_followee_cause_causes')),
    sa.ForeignKeyConstraint(['followee_id'], ['subscribers.id'], name=op.f('fk_follows_followee_id_subscribers')),
    sa.ForeignKeyConstraint(['follower_id'], ['subscribers.id'], name=op.f('fk_follows_follower_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follows'))
    )
    with op.batch_alter_table('follows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follows_followee_cause_notify_follower_id'), ['followee_cause', 'notify', 'follower_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_follows_followee_id_notify_follower_id'), ['followee_id', 'notify', 'follower_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_follows_follower_id_followee_cause'), ['follower_id', 'followee_cause'], unique=True)
        batch_op.create_index(batch_op.f('ix_follows_follower_id_followee_id'), ['follower_id', 'followee_id'], unique=True)

    op.create_table('gifts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('cause_code', sa.String(length=32), nullable=False),
    sa.Column('created_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_gifts_amount_positive')),
    sa.ForeignKeyConstraint(['cause_code'], ['causes.code'], name=op.f('fk_gifts_cause_code_causes')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_gifts_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gifts'))
    )
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gifts_period_cause_code'), ['period', 'cause_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_gifts_subscriber_id_period'), ['subscriber_id', 'period'], unique=False)

    op.create_table('pending_gives',
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('cause_code', sa.String(length=32), nullable=False),
    sa.Column('expires_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_pending_gives_amount_positive')),
    sa.ForeignKeyConstraint(['cause_code'], ['causes.code'], name=op.f('fk_pending_gives_cause_code_causes')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_pending_gives_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('subscriber_id', name=op.f('pk_pending_gives'))
    )
    op.create_table('posts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_cause', sa.String(length=32), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', engine.store.types.UtcDateTime(), nullable=False),
    sa.CheckConstraint('(author_id IS NULL) <> (author_cause IS NULL)', name=op.f('ck_posts_one_author')),
    sa.ForeignKeyConstraint(['author_cause'], ['causes.code'], name=op.f('fk_posts_author_cause_causes')),
    sa.ForeignKeyConstraint(['author_id'], ['subscribers.id'], name=op.f('fk_posts_author_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posts'))
    )
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_posts_author_cause_created_at'), ['author_cause', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_posts_author_id_created_at'), ['author_id', 'created_at'], unique=False)

    op.create_table('social_actions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=12), nullable=False),
    sa.Column('at', engine.store.types.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_social_actions_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_social_actions'))
    )
    with op.batch_alter_table('social_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_social_actions_subscriber_id_action_at'), ['subscriber_id', 'action', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('social_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_social_actions_subscriber_id_action_at'))

    op.drop_table('social_actions')
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_posts_author_id_created_at'))
        batch_op.drop_index(batch_op.f('ix_posts_author_cause_created_at'))

    op.drop_table('posts')
    op.drop_table('pending_gives')
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gifts_subscriber_id_period'))
        batch_op.drop_index(batch_op.f('ix_gifts_period_cause_code'))

    op.drop_table('gifts')
    with op.batch_alter_table('follows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follows_follower_id_followee_id'))
        batch_op.drop_index(batch_op.f('ix_follows_follower_id_followee_cause'))
        batch_op.drop_index(batch_op.f('ix_follows_followee_id_notify_follower_id'))
        batch_op.drop_index(batch_op.f('ix_follows_followee_cause_notify_follower_id'))

    op.drop_table('follows')
    op.drop_table('sms_throttles')
