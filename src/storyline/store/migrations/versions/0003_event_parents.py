"""events name their parent instead of copying it; story runs count their event bytes

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_events_parent", ["parent_id"], unique=False)
    with op.batch_alter_table("story_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_bytes", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    # Before 0003 every event held its whole view: write it back, parents (lower ids) first.
    conn = op.get_bind()
    events = sa.table("events", sa.column("id"), sa.column("parent_id"), sa.column("payload", sa.JSON()))
    children = conn.execute(
        sa.select(events.c.id, events.c.parent_id).where(events.c.parent_id.is_not(None)).order_by(events.c.id)
    ).all()
    for event_id, parent_id in children:
        upstream = conn.execute(sa.select(events.c.payload).where(events.c.id == parent_id)).scalar()
        if upstream:
            own = conn.execute(sa.select(events.c.payload).where(events.c.id == event_id)).scalar_one()
            conn.execute(events.update().where(events.c.id == event_id).values(payload={**upstream, **own}))

    with op.batch_alter_table("story_runs", schema=None) as batch_op:
        batch_op.drop_column("event_bytes")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_parent")
        batch_op.drop_column("parent_id")
