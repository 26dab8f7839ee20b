"""Follow-up (回访), reopening (重办) and the columns evaluation (考核评价) reads (issue 19).

* ``cases.satisfaction``: the latest follow-up's verdict, ``satisfied`` (满意), ``basically_satisfied`` (基本满意)
  or ``dissatisfied`` (不满意); kept when the case is reopened (it is the resident's latest word).
* ``cases.followup_resolved``: whether the resident said the problem was solved (the basis of the resolution
  rate); ``cases.followup_channel``: how the resident was reached; ``cases.followed_up_at``: when.
* ``cases.reopen_count``: how many times a follow-up reopened the case (a reopened case is no first-time
  resolution).
* ``case_event.kind`` gains ``followup`` (the follow-up itself; a reopening is a ``transition`` event
  closed → dispatched that names the follow-up in its data).
* Existing 1-5 ratings become a satisfaction (4-5 satisfied, 3 basically satisfied, 1-2 dissatisfied: the
  same mapping as api/cases/followup.py ``SATISFACTION_OF_RATING``, written here because a migration carries
  its own SQL).

Revision ID: 0026
Revises: 0028
Create Date: 2026-12-08
"""

from alembic import op

revision = "0026"
down_revision = "0028"
branch_labels = None
depends_on = None

_KINDS = ("'transition', 'assign', 'whistle', 'acknowledge', 'report_back', 'merge', 'rating', 'note', "
          "'suspend', 'resume', 'extend'")


def upgrade() -> None:
    op.execute(f"""
        ALTER TABLE cases
            ADD COLUMN satisfaction text
                CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
            ADD COLUMN followup_resolved boolean,
            ADD COLUMN followup_channel text,
            ADD COLUMN followed_up_at timestamptz,
            ADD COLUMN reopen_count integer NOT NULL DEFAULT 0 CHECK (reopen_count >= 0);
        UPDATE cases SET satisfaction = CASE WHEN rating >= 4 THEN 'satisfied' WHEN rating = 3
                                             THEN 'basically_satisfied' ELSE 'dissatisfied' END,
                         followed_up_at = closed_at
        WHERE rating IS NOT NULL;
        ALTER TABLE case_event DROP CONSTRAINT case_event_kind_check, ADD CONSTRAINT case_event_kind_check
            CHECK (kind IN ({_KINDS}, 'followup'));
    """)


def downgrade() -> None:
    op.execute(f"""
        ALTER TABLE case_event DISABLE TRIGGER tr_case_event_no_update;  -- the log is append-only but for this
        DELETE FROM case_event WHERE kind = 'followup';
        ALTER TABLE case_event ENABLE TRIGGER tr_case_event_no_update;
        ALTER TABLE case_event DROP CONSTRAINT case_event_kind_check, ADD CONSTRAINT case_event_kind_check
            CHECK (kind IN ({_KINDS}));
        ALTER TABLE cases DROP COLUMN satisfaction, DROP COLUMN followup_resolved, DROP COLUMN followup_channel,
                          DROP COLUMN followed_up_at, DROP COLUMN reopen_count;
    """)
