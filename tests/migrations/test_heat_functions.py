"""migrations/heat_functions.sql holds the heat roll-ups' live functions whole (issue 22): the file and the
database agree, function by function, so that reading the file is reading what runs."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

FILE = Path(__file__).resolve().parents[2] / "migrations" / "heat_functions.sql"
#: The functions the file holds: the roll-ups' (``gridmap_heat_*``), their cells and their Beijing day.
LIVE = text("""
    SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public'
      AND (p.proname LIKE 'gridmap\\_heat%' OR p.proname LIKE 'gridmap\\_cell%' OR p.proname = 'gridmap_local_day')
    ORDER BY p.proname""")


def _in_file() -> dict[str, str]:
    parts = re.split(r"(?m)^(?=CREATE OR REPLACE FUNCTION public\.)", FILE.read_text(encoding="utf-8"))[1:]
    return {re.match(r"CREATE OR REPLACE FUNCTION public\.(\w+)", p).group(1): p.rstrip().removesuffix(";").rstrip()
            for p in parts}


def test_the_file_holds_every_live_heat_function_as_the_database_has_it(db: Session) -> None:
    live = {name: body.rstrip() for name, body in db.execute(LIVE).all()}
    written = _in_file()
    assert sorted(written) == sorted(live)
    for name, body in live.items():
        assert written[name] == body, f"{name} differs from migrations/heat_functions.sql: regenerate the file"


def test_the_comparison_sees_a_changed_function(db: Session) -> None:
    db.execute(text("""CREATE OR REPLACE FUNCTION gridmap_local_day(t timestamptz) RETURNS date
                       LANGUAGE sql IMMUTABLE AS $$ SELECT (t AT TIME ZONE 'UTC')::date $$"""))
    live = dict(db.execute(LIVE).all())
    assert _in_file()["gridmap_local_day"] != live["gridmap_local_day"].rstrip()
