"""credentials, resources, schedules, sub-story runs

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "schedule_ticks",
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("next_run", sa.Float(), nullable=False),
        sa.Column("last_run", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["action_id"], ["actions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("action_id"),
    )
    with op.batch_alter_table("story_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_job_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("story_runs", schema=None) as batch_op:
        batch_op.drop_column("parent_job_id")

    op.drop_table("schedule_ticks")
    op.drop_table("resources")
    op.drop_table("credentials")
