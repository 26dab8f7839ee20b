"""``gridmap_heat_add`` in PL/pgSQL: its plan is kept from call to call instead of made again every time.

The function (0006; hour rows limited to the horizon by 0011) adds signed deltas to the six heat roll-ups in one
statement of six upserts. Written in ``LANGUAGE sql`` (and not inlinable: it returns ``void`` and writes),
PostgreSQL plans that statement afresh at every call. The statement trigger on ``cases`` calls it once per intake
statement, so every report (or batch of reports) paid the planning: measured with ``EXPLAIN ANALYZE`` on the bench
database, the trigger took 2.4 ms for a one-report intake, of which ~1.8 ms was planning; in PL/pgSQL (the same
statement, its plan cached per connection) it takes 0.6 ms (issue 4). Case updates (the workflow, the wall's
counts) run the same trigger and gain alike. The statement itself is unchanged, so the counts are the same
(tests/api/wall and tests/api/reports compare them with a recount).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _sql_function() -> str:
    """0011's ``CREATE OR REPLACE FUNCTION gridmap_heat_add`` (LANGUAGE sql), read from that migration."""
    spec = importlib.util.spec_from_file_location("m0011", Path(__file__).with_name("0011_heat_hourly_horizon.py"))
    m0011 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0011)
    text = m0011.UPGRADE
    start = text.index("CREATE OR REPLACE FUNCTION gridmap_heat_add(deltas jsonb)")
    return text[start:text.index("$$;", start) + 3]


def upgrade() -> None:
    sql = _sql_function()
    head, body = sql.split("LANGUAGE sql AS $$", 1)
    statement = body.rsplit("$$;", 1)[0].strip()
    op.execute(f"{head}LANGUAGE plpgsql AS $$\nBEGIN\n    {statement}\nEND;\n$$;")


def downgrade() -> None:
    op.execute(_sql_function())
