"""Working calendar (issue 19): time limits in working days or hours, suspension and extension of cases.

* ``workday``: every day of the years the pinned ``chinese-calendar`` library covers (State Council notices,
  with make-up working days 调休), filled here from the library (geo/workcal.py). Years it does not cover
  have no rows: the rule below falls back to Saturday/Sunday off.
* ``calendar_exception``: local exceptions an admin adds (a district's own day off, an extra working day);
  they win over the library.
* ``gridmap_is_workday(date)``: exception, else library, else weekday. The ONE rule.
* ``gridmap_deadline(start, amount, unit)``: ``hours`` are clock hours; ``working_hours`` and
  ``working_days`` count only office hours (09:00–17:00 Beijing time, 8 h = one working day) of working days.
  ``gridmap_working_hours(a, b)``: working hours between two instants (a suspension's length).
* ``category.time_limit_unit``: the unit of ``time_limit_hours`` (its amount).
* ``cases.suspended_at`` / ``cases.suspended_deadline``: a suspended case (挂起) has no running deadline
  (``deadline`` is NULL, so it is never overdue); on resume the deadline moves by the working time suspended.

Revision ID: 0024
Revises: 0021
Create Date: 2026-12-07
"""

from alembic import op
from sqlalchemy import text

revision = "0024"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE workday (
            day      date PRIMARY KEY,
            workday  boolean NOT NULL,
            kind     text NOT NULL,
            name     text,
            name_en  text
        );
        CREATE TABLE calendar_exception (
            day         date PRIMARY KEY,
            workday     boolean NOT NULL,
            name        text NOT NULL,
            created_by  text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now()
        );
        ALTER TABLE category ADD COLUMN time_limit_unit text NOT NULL DEFAULT 'hours'
            CHECK (time_limit_unit IN ('hours', 'working_hours', 'working_days'));
        ALTER TABLE cases ADD COLUMN suspended_at timestamptz, ADD COLUMN suspended_deadline timestamptz;
        ALTER TABLE case_event DROP CONSTRAINT case_event_kind_check, ADD CONSTRAINT case_event_kind_check
            CHECK (kind IN ('transition', 'assign', 'whistle', 'acknowledge', 'report_back', 'merge', 'rating',
                            'note', 'suspend', 'resume', 'extend'));

        CREATE FUNCTION gridmap_is_workday(d date) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT coalesce((SELECT workday FROM calendar_exception WHERE day = d),
                            (SELECT workday FROM workday WHERE day = d),
                            extract(isodow FROM d) < 6)
        $$;

        -- Office hours of a working day, Beijing time. One place: changing them changes every deadline.
        CREATE FUNCTION gridmap_deadline(start timestamptz, amount float8, unit text)
        RETURNS timestamptz LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
        DECLARE
            open_t  CONSTANT time := '09:00';
            close_t CONSTANT time := '17:00';
            remaining interval;
            cur timestamp;  -- Beijing wall-clock time
            d date;
            day_open timestamp; day_close timestamp; avail interval;
        BEGIN
            IF start IS NULL OR amount IS NULL THEN RETURN NULL; END IF;
            IF unit = 'hours' THEN RETURN start + make_interval(secs => amount * 3600); END IF;
            IF unit = 'working_days' THEN amount := amount * extract(epoch FROM close_t - open_t) / 3600; END IF;
            IF unit NOT IN ('working_days', 'working_hours') THEN
                RAISE EXCEPTION 'unknown time limit unit %', unit;
            END IF;
            remaining := make_interval(secs => amount * 3600);
            cur := start AT TIME ZONE 'Asia/Shanghai';
            d := cur::date;
            FOR i IN 1..3660 LOOP  -- ten years of days at most
                IF gridmap_is_workday(d) THEN
                    day_open := d + open_t; day_close := d + close_t;
                    IF cur < day_open THEN cur := day_open; END IF;
                    IF cur < day_close THEN
                        avail := day_close - cur;
                        IF remaining <= avail THEN
                            RETURN (cur + remaining) AT TIME ZONE 'Asia/Shanghai';
                        END IF;
                        remaining := remaining - avail;
                    END IF;
                END IF;
                d := d + 1; cur := d::timestamp;
            END LOOP;
            RAISE EXCEPTION 'time limit beyond ten years';
        END $$;

        CREATE FUNCTION gridmap_working_hours(a timestamptz, b timestamptz)
        RETURNS float8 LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT coalesce(sum(extract(epoch FROM
                       least(b AT TIME ZONE 'Asia/Shanghai', d + time '17:00')
                       - greatest(a AT TIME ZONE 'Asia/Shanghai', d + time '09:00'))) / 3600, 0)
            FROM generate_series((a AT TIME ZONE 'Asia/Shanghai')::date, (b AT TIME ZONE 'Asia/Shanghai')::date,
                                 interval '1 day') AS g(dd), LATERAL (SELECT dd::date AS d) x
            WHERE gridmap_is_workday(d)
              AND least(b AT TIME ZONE 'Asia/Shanghai', d + time '17:00')
                  > greatest(a AT TIME ZONE 'Asia/Shanghai', d + time '09:00')
        $$;
    """)
    # The library's days, filled by the same pure code the API answers with.
    from geo.workcal import covered_years, library_days

    rows = [{"day": d.date, "w": d.workday, "k": d.kind, "n": d.name, "e": d.name_en}
            for y in covered_years() for d in (library_days(y) or [])]
    op.get_bind().execute(text("INSERT INTO workday VALUES (:day, :w, :k, :n, :e)"), rows)


def downgrade() -> None:
    op.execute("""
        DROP FUNCTION gridmap_working_hours(timestamptz, timestamptz);
        DROP FUNCTION gridmap_deadline(timestamptz, float8, text);
        DROP FUNCTION gridmap_is_workday(date);
        ALTER TABLE case_event DROP CONSTRAINT case_event_kind_check, ADD CONSTRAINT case_event_kind_check
            CHECK (kind IN ('transition', 'assign', 'whistle', 'acknowledge', 'report_back', 'merge', 'rating',
                            'note'));
        ALTER TABLE cases DROP COLUMN suspended_at, DROP COLUMN suspended_deadline;
        ALTER TABLE category DROP COLUMN time_limit_unit;
        DROP TABLE calendar_exception;
        DROP TABLE workday;
    """)
