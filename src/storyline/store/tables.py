"""The schema, as SQLAlchemy Core tables; Alembic migrations under ``migrations/`` create it.

Times are epoch seconds (floats) so queue comparisons are plain and identical on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for event volume.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Plain JSON (text) rather than JSONB on PostgreSQL: it keeps the key order of imported
# options for faithful export, and is cheaper to write than JSONB.
Json = sa.JSON()

stories = sa.Table(
    "stories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("guid", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("schema_version", sa.Integer, nullable=True),
    sa.Column("keep_events_for", sa.Integer, nullable=False),
    sa.Column("send_to_story_enabled", sa.Boolean, nullable=False, default=False),
    sa.Column("entry_agent_guid", sa.String(64), nullable=True),
    sa.Column("exit_agent_guids", Json, nullable=True),
    sa.Column("extra", Json, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # A disabled story keeps its actions and events but runs nothing (enable/disable in the API).
    sa.Column("disabled", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sqlite_autoincrement=True,
)

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("story_id", sa.Integer, sa.ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("guid", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("options", Json, nullable=False),
    sa.Column("schedule", Json, nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("extra", Json, nullable=True),
    sa.Column("webhook_path", sa.String(255), nullable=True, unique=True),
    sa.Column("webhook_secret", sa.String(255), nullable=True),
    sa.UniqueConstraint("story_id", "guid", name="uq_actions_story_guid"),
    # Never reuse the id of a deleted action: old events and jobs still name it.
    sqlite_autoincrement=True,
)

links = sa.Table(
    "links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("story_id", sa.Integer, sa.ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    sa.Column("source_id", sa.Integer, sa.ForeignKey("actions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("receiver_id", sa.Integer, sa.ForeignKey("actions.id", ondelete="CASCADE"), nullable=False),
)

story_runs = sa.Table(
    "story_runs",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("guid", sa.String(36), nullable=False, unique=True),
    sa.Column("story_id", sa.Integer, sa.ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
    # A sub-story run started by a Send to Story action: the job waiting for its exit.
    sa.Column("parent_job_id", sa.BigInteger, nullable=True),
    # Bytes of event JSON the run has written, held to STORYLINE_MAX_RUN_BYTES.
    sa.Column("event_bytes", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Index("ix_story_runs_story", "story_id", "id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("story_id", sa.Integer, sa.ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("story_run", sa.String(36), nullable=False, index=True),
    # The job that emitted it and its index among that job's events: a re-run job
    # cannot write the same event twice.
    sa.Column("job_id", sa.BigInteger, nullable=True),
    sa.Column("idx", sa.Integer, nullable=False, default=0),
    # What the action emitted, under its key ({key: output}); the event as actions see it
    # (everything upstream too) is assembled on read by following parent_id (store/events.py),
    # so an explode does not store the upstream payload once per element. Events written
    # before migration 0003 hold the whole view and no parent.
    sa.Column("payload", Json, nullable=False),
    # The event this one was emitted on, in the same story run; None for a run's first event.
    sa.Column("parent_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
    sa.UniqueConstraint("job_id", "idx", name="uq_events_job_idx"),
    sa.Index("ix_events_action", "action_id", "id"),
    # Retention keeps an event while another names it as parent.
    sa.Index("ix_events_parent", "parent_id"),
    # The API's lists (migration 0006): a story's events newest first, and events since a time.
    sa.Index("ix_events_story", "story_id", "id"),
    sa.Index("ix_events_created_at", "created_at"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", sa.BigInteger, nullable=True),
    sa.Column("story_run", sa.String(36), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued | running | held | done | failed
    sa.Column("run_after", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("worker", sa.String(64), nullable=True),
    sa.Column("state", Json, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Index("ix_jobs_due", "status", "run_after"),
    # A run's status (pending, failed) and its failed jobs, without a scan of every job kept.
    sa.Index("ix_jobs_story_run", "story_run"),
)

PENDING_JOBS = ("queued", "running", "held")
"""Job statuses of a run not yet over; ``held`` is a job of a disabled story, queued again when it is enabled."""

logs = sa.Table(
    "logs",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("job_id", sa.BigInteger, nullable=True),
    sa.Column("story_run", sa.String(36), nullable=True),
    sa.Column("level", sa.String(8), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Index("ix_logs_action", "action_id", "id"),
)

action_state = sa.Table(
    "action_state",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("bucket", sa.String(255), nullable=False),
    sa.Column("value", Json, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_action_state_bucket", "action_id", "bucket", "id"),
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),  # text | oauth2 | http_request
    # AES-GCM ciphertext (nonce first) of the secret parts, as JSON.
    sa.Column("secret", sa.LargeBinary, nullable=False),
    # The parts that are not secret: token_url, client_id, scope, allowed_hosts, ...
    sa.Column("settings", Json, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # When a run last rendered it (kept to the minute: see credentials/vault.py), for the API's list.
    sa.Column("last_used_at", sa.Float, nullable=True),
)

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("value", Json, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

schedule_ticks = sa.Table(
    "schedule_ticks",
    metadata,
    sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("next_run", sa.Float, nullable=False),
    sa.Column("last_run", sa.Float, nullable=True),
)

# Accounts (migration 0004). Emails are stored lower-cased; no secret is stored as given:
# passwords as argon2id hashes, API tokens and session ids as SHA-256 digests (accounts/).
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),  # viewer | editor | admin
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_by", sa.String(320), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_used_at", sa.Float, nullable=True),
)

# Browser sessions (the login comes next): rows, so every web node on one PostgreSQL shares them.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

# Failed logins, keyed ``account:EMAIL`` or ``client:ADDRESS``: throttling reads them, so every
# web node on one PostgreSQL throttles alike. Never holds the password tried.
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("key", sa.String(400), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Index("ix_login_failures_key_created_at", "key", "created_at"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("actor", sa.String(330), nullable=False),  # user:EMAIL | token:NAME | cli:OS_USER
    sa.Column("action", sa.String(64), nullable=False),  # story.import, credential.set, user.add, ...
    sa.Column("target", sa.String(512), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
)
