"""Case-event notes gridmap writes itself are stored as a code with parameters (issue 24).

* ``case_event.note_code`` / ``note_params``: set for a note the system wrote (a report received or imported, a
  merge, a reassignment, a department or person reporting back, a case re-routed by a published layout), so a
  screen says it in its own language; NULL for what a person typed. The codes and their English texts live in
  api/cases/notes.py; ``note`` keeps the English text for API clients that read it.
* Backfill: the rows written before are recognised by the exact texts the code wrote, each only on the kind of
  event that wrote it (a reassignment only where the name is that of the person the event assigned), so a note a
  person typed is never given a code. The append-only trigger is paused for this one UPDATE.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

#: (code, the event rows it may be on, the text pattern, the parameters from the match ``m``). No ``(?:``: a colon
#: followed by a name is a bind parameter to op.execute.
BACKFILL = (
    ("received", "from_status IS NULL",
     r"^received from ([A-Za-z0-9_]+)( \(([a-z_]+)\))?$",
     "jsonb_build_object('source', m[1], 'reason', m[3])"),
    ("imported", "from_status IS NULL", r"^imported report$", "NULL"),
    ("merged_into", "to_status = 'rejected'", r"^merged into case (\d+) \(并单\)$",
     "jsonb_build_object('case', m[1]::bigint)"),
    ("merged_in", "kind = 'merge'", r"^case (\d+) \(report (\d+)\) merged in \(并单\)$",
     "jsonb_build_object('case', m[1]::bigint, 'report', m[2]::bigint)"),
    ("reassigned", "kind = 'assign' AND EXISTS (SELECT 1 FROM person p WHERE p.id = (e.data ->> 'to_person')::bigint "
                   "AND 'reassigned to ' || p.name = e.note)",
     r"^reassigned to (.+)$", "jsonb_build_object('name', m[1])"),
    ("reported_back", "kind = 'acknowledge'", r"^(department (\S+)|person (\d+)) reported \(报到\)( late)?$",
     "jsonb_build_object('department', m[2], 'person', m[3]::bigint, 'late', nullif(m[4] IS NOT NULL, false))"),
    ("rerouted", "kind = 'assign'", r"^grid (\S+) → (\S+) \(layout (\d+) published\)$",
     "jsonb_build_object('from', nullif(m[1], '-'), 'to', m[2], 'layout', m[3]::bigint)"),
)


def upgrade() -> None:
    op.execute("""
        ALTER TABLE case_event ADD COLUMN note_code text, ADD COLUMN note_params jsonb,
            ADD CONSTRAINT case_event_note_code_check CHECK (note_code ~ '^[a-z_]+$'),
            ADD CONSTRAINT case_event_note_params_check
                CHECK (note_params IS NULL OR (note_code IS NOT NULL AND jsonb_typeof(note_params) = 'object'))""")
    for statement in backfill():
        op.execute(statement)


def backfill() -> list[str]:
    """The backfill's statements (also run by tests/migrations/test_note_codes.py on rows written the old way)."""
    return ["ALTER TABLE case_event DISABLE TRIGGER tr_case_event_no_update", *(f"""
        UPDATE case_event e SET note_code = '{code}', note_params = nullif(jsonb_strip_nulls({params}), '{{}}')
        FROM (SELECT id, regexp_match(note, $re${pattern}$re$) AS m FROM case_event e
              WHERE note IS NOT NULL AND note_code IS NULL AND {where}) x
        WHERE e.id = x.id AND x.m IS NOT NULL""" for code, where, pattern, params in BACKFILL),
            "ALTER TABLE case_event ENABLE TRIGGER tr_case_event_no_update"]


def downgrade() -> None:
    op.execute("ALTER TABLE case_event DROP COLUMN note_params, DROP COLUMN note_code")
