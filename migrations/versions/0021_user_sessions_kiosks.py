"""People's sessions and wall screens (issue 18): kiosk users and their one-time pairing codes.

A *kiosk* is the unattended map wall of a command centre. It is an ``app_user`` with ``kiosk = true`` and the
read-only ``viewer`` role that has no usable password: it signs in once with a short pairing code that an
admin makes on the admin page (stored here as a SHA-256 digest with an expiry, consumed on use), and from
then on carries an ordinary login token (``user_token``) that the admin revokes like any person's session.

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-07
"""

from alembic import op

revision = "0021"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        ALTER TABLE app_user
            ADD COLUMN kiosk boolean NOT NULL DEFAULT false,
            ADD COLUMN pairing_hash varchar(64),
            ADD COLUMN pairing_expires_at timestamptz;
        CREATE UNIQUE INDEX uq_app_user_pairing_hash ON app_user (pairing_hash) WHERE pairing_hash IS NOT NULL;
    """)


def downgrade() -> None:
    op.execute("""
        DROP INDEX IF EXISTS uq_app_user_pairing_hash;
        ALTER TABLE app_user DROP COLUMN pairing_expires_at, DROP COLUMN pairing_hash, DROP COLUMN kiosk;
    """)
