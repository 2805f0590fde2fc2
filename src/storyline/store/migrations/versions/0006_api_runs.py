"""indexes for the REST API's lists: events by story and by time, runs by story, jobs and logs by run and action

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (table, index, columns): each serves one keyset-paged list of the API (web/api/runs.py), newest first.
INDEXES = [
    ("events", "ix_events_story", ["story_id", "id"]),  # GET /events?story_id=
    ("events", "ix_events_created_at", ["created_at"]),  # GET /events?since= (few rows match: no full scan)
    ("story_runs", "ix_story_runs_story", ["story_id", "id"]),  # GET /story_runs?story_id=
    ("jobs", "ix_jobs_story_run", ["story_run"]),  # a run's status and its failed jobs
    ("logs", "ix_logs_action", ["action_id", "id"]),  # GET /logs?story_id=
]


def upgrade() -> None:
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
