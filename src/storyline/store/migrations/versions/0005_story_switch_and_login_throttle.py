"""stories can be disabled; failed logins are rows, so every web node throttles alike

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER on both databases: a batch (copy-and-move) on SQLite would drop the stories table,
    # and its foreign keys would cascade that to every action, run and event.
    op.add_column("stories", sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_failures_key_created_at", "login_failures", ["key", "created_at"], unique=False)
    op.create_index("ix_login_failures_created_at", "login_failures", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_failures_created_at", table_name="login_failures")
    op.drop_index("ix_login_failures_key_created_at", table_name="login_failures")
    op.drop_table("login_failures")
    # SQLite has ALTER TABLE DROP COLUMN since 3.35; see upgrade() for why not a batch.
    op.execute("ALTER TABLE stories DROP COLUMN disabled")
