"""credentials remember when a run last used them (GET /api/v1/user_credentials shows it)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTERs, never a batch (copy-and-move) on SQLite: see 0005.
    op.add_column("credentials", sa.Column("last_used_at", sa.Float(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE credentials DROP COLUMN last_used_at")
