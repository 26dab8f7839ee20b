"""Roles that mean what they say (issue 17): viewer, dispatcher, operator join planner, worker, intake, admin.

``commander`` was both the read-only wall key and the role that moved cases; its rows become ``dispatcher``
(the command centre's staff), and the wall gets a ``viewer`` key from ``gridmap keys ensure-local``. The role
table itself is code (api/auth/roles.py); the database only keeps the names valid.

Reports record who filed them (``filed_by``: ``user:<id>`` or ``key:<id>``): an operator reads back the reports
and cases it filed, an intake system the ones its key posted. Rows from before are NULL: filed by nobody who can
read them back under that rule (the command centre and planners read them as before).

Wall stream tickets become rows (``stream_ticket``, unlogged: a ticket lives 60 seconds) so that each is used
once, in whichever process, and so that people signed in with a login token can open the stream too.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_NEW = "'admin', 'dispatcher', 'operator', 'planner', 'worker', 'viewer', 'intake'"
_OLD = "'admin', 'planner', 'commander', 'worker', 'intake'"


def upgrade() -> None:
    op.execute(f"""
        ALTER TABLE api_key DROP CONSTRAINT api_key_role_check;
        UPDATE api_key SET role = 'dispatcher' WHERE role = 'commander';
        ALTER TABLE api_key ADD CONSTRAINT api_key_role_check CHECK (role IN ({_NEW}));
        ALTER TABLE app_user DROP CONSTRAINT app_user_role_check;
        UPDATE app_user SET role = 'dispatcher' WHERE role = 'commander';
        ALTER TABLE app_user ADD CONSTRAINT app_user_role_check CHECK (role IN ({_NEW}));
        ALTER TABLE report ADD COLUMN filed_by text;
        CREATE INDEX ix_report_filed_by ON report (filed_by, reported_at DESC) WHERE filed_by IS NOT NULL;
        CREATE UNLOGGED TABLE stream_ticket (
            ticket_hash char(64) PRIMARY KEY,
            key_id      bigint REFERENCES api_key (id) ON DELETE CASCADE,
            token_hash  char(64),
            expires_at  timestamptz NOT NULL,
            CHECK ((key_id IS NULL) <> (token_hash IS NULL)));
    """)


def downgrade() -> None:
    # viewer and operator have no older name: they go back as commander (read and act), the nearest there was.
    op.execute(f"""
        DROP TABLE stream_ticket;
        DROP INDEX ix_report_filed_by;
        ALTER TABLE report DROP COLUMN filed_by;
        ALTER TABLE app_user DROP CONSTRAINT app_user_role_check;
        UPDATE app_user SET role = 'commander' WHERE role IN ('dispatcher', 'operator', 'viewer');
        ALTER TABLE app_user ADD CONSTRAINT app_user_role_check CHECK (role IN ({_OLD}));
        ALTER TABLE api_key DROP CONSTRAINT api_key_role_check;
        UPDATE api_key SET role = 'commander' WHERE role IN ('dispatcher', 'operator', 'viewer');
        ALTER TABLE api_key ADD CONSTRAINT api_key_role_check CHECK (role IN ({_OLD}));
    """)
