"""CHECK constraints of known values as comparisons joined by OR instead of IN lists

SQLite checks `state IN ('a', 'b', 'c')` (three values or more) by building a temporary table for
the list on every insert and update of the row: a 4 KB page cleared and filled each time, a third
of the cost of an MO's state update (engine/store/schema.py, `one_of_condition`, says the same). The same
conditions written `state = 'a' OR state = 'b' OR ...` are checked in place. Same rows allowed,
on every backend; on SQLite each table is copied once (batch mode, with foreign keys checked
at the end: engine/store/migrate.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# table -> (column, values) of each of its known-values checks, as migrations 0001-0007 left them
# (written out: a migration keeps what it did, whatever the schema module says later)
CHECKS = {
    'subscribers': (('kind', ('line', 'social')), ('status', ('activating', 'active', 'suspended', 'terminated'))),
    'mo_messages': (('state', ('received', 'handled', 'failed')), ('kind', ('sms', 'ussd'))),
    'mt_messages': (('state', ('queued', 'sending', 'submitted', 'delivered', 'undeliverable', 'expired', 'rejected',
                               'failed')),),
    'provisioning_requests': (('action', ('activate', 'change_plan', 'suspend', 'restore', 'terminate')),
                              ('state', ('queued', 'sent', 'accepted', 'rejected'))),
    'lifecycle_events': (('event_type', ('sim_activation', 'sim_swap', 'msisdn_change', 'port_out', 'termination')),),
    'wholesale_statement_lines': (('service', ('voice', 'sms', 'data')),),
}


def _comparisons(column: str, values: tuple[str, ...]) -> str:
    return " OR ".join(f"{column} = '{value}'" for value in values)


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _rewrite(condition) -> None:
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in checks:
                name = op.f(f'ck_{table}_{column}_known')
                batch_op.drop_constraint(name, type_='check')
                batch_op.create_check_constraint(name, condition(column, values))


def upgrade() -> None:
    _rewrite(_comparisons)


def downgrade() -> None:
    _rewrite(_in_list)
