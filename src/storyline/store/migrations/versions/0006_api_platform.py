"""credentials remember when a run last used them (GET /api/v1/user_credentials shows it)

Revision ID: 0006_api_platform
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_api_platform"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("last_used_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("last_used_at")
