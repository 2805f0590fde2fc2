"""Stories in the database: save (import), load (export, show), list and delete.

Every function takes a SQLAlchemy ``Connection`` and leaves the transaction to the
caller, so an import of several files, or an import plus the catalog refresh, can be
one atomic unit. Only SQLAlchemy Core and the tables in ``store.tables`` are used, and
the same code runs on SQLite and PostgreSQL.

Fidelity: every key of the Tines export survives a save/load round trip. Action keys
that have no column (the legacy per-agent ``keep_events_for`` and unknown keys) live
in ``actions.extra``; an agent whose export has no ``schedule`` key at all is stored
with a SQL NULL schedule, one with ``"schedule": null`` with a JSON null, so the
export reproduces either.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult, Row

from storyline.model import SEND_TO_STORY_TYPE, ActionDef, StoryDef, find_story, static_target
from storyline.store import tables as t
from storyline.urls import webhook_url

# The actions.extra key holding the legacy per-agent retention (no column of its own).
KEEP_EVENTS_FOR = "keep_events_for"


class StoryConflictError(ValueError):
    """Saving the story would clash with what is stored; the message says how to resolve it."""


class StoryExistsError(StoryConflictError):
    """A story with this guid is already stored and ``replace`` was not asked for."""


class WebhookPathConflictError(StoryConflictError):
    """A webhook path of the story is already served by an action of another story."""


class StoryNotFoundError(LookupError):
    """No stored story matches; ``suggestions`` holds close names."""

    def __init__(self, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.suggestions = suggestions or []


class AmbiguousStoryError(StoryNotFoundError):
    """Several stories have this name; the message lists their guids (use one instead)."""


# --------------------------------------------------------------------------- save


def save_story(conn: Connection, story: StoryDef, *, replace: bool = False, now: float) -> int:
    """Store ``story`` and return its id.

    A story is identified by its guid, as in Tines. Without ``replace`` an existing
    guid raises :class:`StoryExistsError`. With it the story is updated in place:
    actions whose guid is unchanged keep their id, so queued jobs, events and state
    stay attached to them; actions no longer in the story are deleted with their jobs
    and events; links are rewritten. ``now`` (epoch seconds) stamps ``updated_at``,
    which the engine's catalog watches to pick up the change.
    """
    _check_consistent(story)
    s = t.stories.c
    existing = conn.execute(sa.select(s.id, s.name).where(s.guid == story.guid)).first()
    if existing is not None and not replace:
        same = "" if existing.name == story.name else f" as {existing.name!r}"
        raise StoryExistsError(
            f"story {story.name!r} (guid {story.guid}) is already imported{same}; "
            "pass --replace to update it in place (unchanged actions keep their events and queued runs), "
            "or --as-new to import a copy beside it"
        )
    story_id: int | None = existing.id if existing is not None else None
    _check_webhook_paths(conn, story, story_id)
    _check_send_to_story_loops(conn, story)

    values = {
        "guid": story.guid,
        "name": story.name,
        "description": story.description,
        "schema_version": story.schema_version,
        "keep_events_for": story.keep_events_for,
        "send_to_story_enabled": story.send_to_story_enabled,
        "entry_agent_guid": story.entry_agent_guid,
        "exit_agent_guids": list(story.exit_agent_guids),
        "extra": story.extra or None,
        "updated_at": now,
    }
    if story_id is None:
        result = conn.execute(sa.insert(t.stories).values(**values, created_at=now))
        story_id = _inserted_id(result)
        action_ids = _insert_actions(conn, story_id, enumerate(story.actions))
    else:
        conn.execute(sa.update(t.stories).where(s.id == story_id).values(**values))
        action_ids = _replace_actions(conn, story_id, story.actions)
        conn.execute(sa.delete(t.links).where(t.links.c.story_id == story_id))

    if story.links:
        conn.execute(
            sa.insert(t.links),
            [
                {"story_id": story_id, "source_id": action_ids[src], "receiver_id": action_ids[dst]}
                for src, dst in story.links
            ],
        )
    return story_id


def _check_consistent(story: StoryDef) -> None:
    """Refuse a StoryDef built in code that the importer would have refused."""
    count = len(story.actions)
    bad = [(i, link) for i, link in enumerate(story.links) if not all(0 <= end < count for end in link)]
    if bad:
        index, link = bad[0]
        raise ValueError(
            f"story {story.name!r}: link {index} {link} points outside the {count} actions "
            f"(indexes 0 to {count - 1})"
        )
    seen: dict[str, str] = {}
    for action in story.actions:
        if action.guid in seen:
            raise ValueError(
                f"story {story.name!r}: actions {seen[action.guid]!r} and {action.name!r} share guid {action.guid}"
            )
        seen[action.guid] = action.name
    paths: dict[str, str] = {}
    for action in story.actions:
        path = action.webhook_path
        if path is None:
            continue
        if path in paths:
            raise WebhookPathConflictError(
                f"story {story.name!r}: webhooks {paths[path]!r} and {action.name!r} share the path "
                f"{path!r}; give each a different options.path"
            )
        paths[path] = action.name


def _check_webhook_paths(conn: Connection, story: StoryDef, story_id: int | None) -> None:
    """Webhook paths are global (``/webhook/<path>``): refuse one served by another story."""
    ours = {action.webhook_path: action for action in story.actions if action.webhook_path is not None}
    if not ours:
        return
    a, s = t.actions.c, t.stories.c
    query = (
        sa.select(a.webhook_path, a.name.label("action"), s.name.label("story"), s.guid)
        .join(t.stories, s.id == a.story_id)
        .where(a.webhook_path.in_(list(ours)))
        .order_by(a.webhook_path)
    )
    if story_id is not None:
        query = query.where(a.story_id != story_id)
    clashes = conn.execute(query).all()
    if not clashes:
        return
    lines = [
        f"webhook path {row.webhook_path!r} of action {ours[row.webhook_path].name!r} in story "
        f"{story.name!r} is already used by action {row.action!r} in story {row.story!r} (guid {row.guid})"
        for row in clashes
    ]
    raise WebhookPathConflictError(
        "; ".join(lines) + ". Webhook URLs must be unique: give the webhook a different options.path "
        "(old exports without one use the action guid), or delete the other story first"
    )


def _entry_reaches(entry: str | None, guids: list[str], options: list[Any], types: list[str],
                   links: Iterable[tuple[int, int]]) -> list[Any]:
    """Options of the Send to Story actions reachable from the entry action (by position)."""
    if entry not in guids:
        return []
    receivers: dict[int, list[int]] = {}
    for source, receiver in links:
        receivers.setdefault(source, []).append(receiver)
    seen, todo = set(), [guids.index(entry)]
    while todo:
        index = todo.pop()
        if index not in seen:
            seen.add(index)
            todo.extend(receivers.get(index, ()))
    return [options[i] for i in sorted(seen) if types[i] == SEND_TO_STORY_TYPE]


def _check_send_to_story_loops(conn: Connection, story: StoryDef) -> None:
    """Refuse a story that closes a loop of sub-stories whose entries send on to each other.

    Only targets named without an event (``{% story Name %}``, a plain name or id) are
    seen here; the engine refuses the rest when a run reaches them.
    """
    s, a, lk = t.stories.c, t.actions.c, t.links.c
    rows = conn.execute(
        sa.select(s.id, s.guid, s.name, s.extra, s.send_to_story_enabled, s.entry_agent_guid)
        .where(s.guid != story.guid)
    ).all()
    names = {row.id: row.name for row in rows}
    new_id = 0  # stored ids start at 1
    names[new_id] = story.name
    catalog = [(row.id, row.guid, row.name, str((row.extra or {}).get("slug") or "")) for row in rows]
    catalog.append((new_id, story.guid, story.name, str(story.extra.get("slug") or "")))

    calls: dict[int, list[Any]] = {}
    if story.send_to_story_enabled:
        calls[new_id] = _entry_reaches(
            story.entry_agent_guid, [x.guid for x in story.actions], [x.options for x in story.actions],
            [x.type for x in story.actions], story.links)
    enabled = [row for row in rows if row.send_to_story_enabled]
    if enabled:
        ids = [row.id for row in enabled]
        actions = conn.execute(
            sa.select(a.id, a.story_id, a.guid, a.type, a.options).where(a.story_id.in_(ids)).order_by(a.id)
        ).all()
        links = conn.execute(sa.select(lk.story_id, lk.source_id, lk.receiver_id).where(lk.story_id.in_(ids))).all()
        for row in enabled:
            mine = [x for x in actions if x.story_id == row.id]
            position = {x.id: i for i, x in enumerate(mine)}
            pairs = [(position[x.source_id], position[x.receiver_id]) for x in links if x.story_id == row.id]
            calls[row.id] = _entry_reaches(
                row.entry_agent_guid, [x.guid for x in mine], [x.options for x in mine], [x.type for x in mine],
                pairs)

    def targets(node: int) -> list[int]:
        found = []
        for options in calls.get(node, ()):
            ref = static_target(options)
            matches = find_story(ref, catalog) if ref is not None else []
            if len(matches) == 1:
                found.append(matches[0])
        return found

    path = [new_id]

    def visit(node: int) -> list[int] | None:
        for nxt in targets(node):
            if nxt == new_id:
                return [*path, nxt]
            if nxt not in path:
                path.append(nxt)
                loop = visit(nxt)
                if loop:
                    return loop
                path.pop()
        return None

    loop = visit(new_id)
    if loop:
        chain = " -> ".join(repr(names[node]) for node in loop)
        raise StoryConflictError(
            f"story {story.name!r} would close a Send to Story loop: {chain} (each sub-story's entry leads "
            "to a Send to Story action calling the next); change one of those actions' 'story' option"
        )


def _action_values(story_id: int, position: int, action: ActionDef) -> dict[str, Any]:
    extra = dict(action.extra)
    if action.keep_events_for is not None:
        extra[KEEP_EVENTS_FOR] = action.keep_events_for
    if action.schedule is not None:
        schedule: Any = action.schedule
    else:
        # SQL NULL: the export had no schedule key; JSON null: it had "schedule": null.
        schedule = sa.JSON.NULL if action.schedule_present else sa.null()
    return {
        "story_id": story_id,
        "position": position,
        "guid": action.guid,
        "name": action.name,
        "key": action.key,
        "type": action.type,
        "options": action.options,
        "schedule": schedule,
        "disabled": action.disabled,
        "extra": extra or None,
        "webhook_path": action.webhook_path,
        "webhook_secret": action.webhook_secret,
    }


def _inserted_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None, "an INSERT of one row has its key"
    return int(key[0])


def _insert_actions(
    conn: Connection, story_id: int, todo: Iterable[tuple[int, ActionDef]]
) -> dict[int, int]:
    ids: dict[int, int] = {}
    for position, action in todo:
        # One row at a time: links need each id, and stories are small (tens of actions).
        result = conn.execute(sa.insert(t.actions).values(**_action_values(story_id, position, action)))
        ids[position] = _inserted_id(result)
    return ids


def _replace_actions(conn: Connection, story_id: int, actions: list[ActionDef]) -> dict[int, int]:
    a = t.actions.c
    stored = {row.guid: row.id for row in conn.execute(sa.select(a.id, a.guid).where(a.story_id == story_id))}
    wanted = {action.guid for action in actions}
    _delete_actions(conn, [action_id for guid, action_id in stored.items() if guid not in wanted])
    # Release the story's webhook paths first, so two kept webhooks may swap paths
    # without tripping the unique constraint halfway through.
    conn.execute(sa.update(t.actions).where(a.story_id == story_id).values(webhook_path=None))
    ids: dict[int, int] = {}
    new: list[tuple[int, ActionDef]] = []
    for position, action in enumerate(actions):
        action_id = stored.get(action.guid)
        if action_id is None:
            new.append((position, action))
            continue
        values = _action_values(story_id, position, action)
        conn.execute(sa.update(t.actions).where(a.id == action_id).values(**values))
        ids[position] = action_id
    ids.update(_insert_actions(conn, story_id, new))
    return ids


def _delete_actions(conn: Connection, action_ids: list[int]) -> None:
    """Delete actions and everything hanging off them.

    The foreign keys cascade on PostgreSQL and on SQLite with ``foreign_keys=ON``;
    deleting explicitly gives the same result on a connection without that pragma.
    """
    if not action_ids:
        return
    conn.execute(
        sa.delete(t.links).where(
            sa.or_(t.links.c.source_id.in_(action_ids), t.links.c.receiver_id.in_(action_ids))
        )
    )
    for table in (t.jobs, t.events, t.logs, t.action_state, t.schedule_ticks):
        conn.execute(sa.delete(table).where(table.c.action_id.in_(action_ids)))
    conn.execute(sa.delete(t.actions).where(t.actions.c.id.in_(action_ids)))


# --------------------------------------------------------------------------- find


def _find(conn: Connection, name_or_guid: str) -> Row[Any]:
    """The story row for a guid, an exact name, a unique case-insensitive name or guid prefix."""
    s = t.stories.c
    wanted = name_or_guid.strip()
    rows = conn.execute(sa.select(t.stories).where(sa.or_(s.guid == wanted, s.name == wanted))).all()
    for row in rows:
        if row.guid == wanted:
            return row
    if len(rows) == 1:
        return rows[0]
    if len(rows) > 1:
        raise _ambiguous(wanted, rows)

    everything = conn.execute(sa.select(s.id, s.name, s.guid).order_by(s.name, s.id)).all()
    folded = wanted.casefold()
    same = [row for row in everything if row.name.casefold() == folded]
    if not same and len(wanted) >= 6:
        same = [row for row in everything if row.guid.startswith(wanted.lower())]
    if len(same) > 1:
        raise _ambiguous(wanted, same)
    if same:
        return conn.execute(sa.select(t.stories).where(s.id == same[0].id)).one()

    if not everything:
        raise StoryNotFoundError(
            f"no story {wanted!r}: no stories are imported yet (`storyline story import FILE`)"
        )
    names = [row.name for row in everything]
    suggestions = _close_names(wanted, names)
    hint = f"; did you mean {', '.join(repr(n) for n in suggestions)}?" if suggestions else ""
    raise StoryNotFoundError(
        f"no story named or with guid {wanted!r}{hint} (`storyline story list` shows all {len(names)})",
        suggestions,
    )


def _ambiguous(wanted: str, rows: Sequence[Any]) -> AmbiguousStoryError:
    listed = ", ".join(f"{row.name!r} (guid {row.guid})" for row in rows)
    return AmbiguousStoryError(
        f"{len(rows)} stories match {wanted!r}: {listed}; name the one you mean by its guid"
    )


def _close_names(wanted: str, names: list[str]) -> list[str]:
    by_folded: dict[str, str] = {}
    for name in names:
        by_folded.setdefault(name.casefold(), name)
    folded = wanted.casefold()
    found = [original for key, original in by_folded.items() if folded in key]
    for key in difflib.get_close_matches(folded, list(by_folded), n=5, cutoff=0.6):
        if by_folded[key] not in found:
            found.append(by_folded[key])
    return found[:5]


def story_id(conn: Connection, name_or_guid: str) -> int:
    """The id of the story with this guid or name (see :func:`load_story` for matching)."""
    return int(_find(conn, name_or_guid).id)


# --------------------------------------------------------------------------- load, list, delete


def names_and_webhook_paths(conn: Connection) -> tuple[set[str], set[str]]:
    """Every stored story name and webhook path: what a copy (``--as-new``) must not reuse."""
    names = set(conn.execute(sa.select(t.stories.c.name)).scalars())
    paths = set(conn.execute(sa.select(t.actions.c.webhook_path).where(t.actions.c.webhook_path.is_not(None))).scalars())
    return names, paths



def load_story(conn: Connection, name_or_guid: str) -> StoryDef:
    """The stored story as a :class:`StoryDef`, ready for :func:`export_story`.

    Matches a guid, an exact name, then a unique case-insensitive name or a guid
    prefix; raises :class:`StoryNotFoundError` naming close matches, or
    :class:`AmbiguousStoryError` when several stories share the name.
    """
    return _load(conn, _find(conn, name_or_guid))


def load_story_by_id(conn: Connection, story_id: int) -> StoryDef | None:
    """The stored story with this id, or None."""
    row = conn.execute(sa.select(t.stories).where(t.stories.c.id == story_id)).first()
    return None if row is None else _load(conn, row)


def _load(conn: Connection, row: Row[Any]) -> StoryDef:
    a = t.actions.c
    action_rows = conn.execute(
        sa.select(t.actions, a.schedule.is_not(sa.null()).label("schedule_stored"))
        .where(a.story_id == row.id)
        .order_by(a.position, a.id)
    ).all()
    actions: list[ActionDef] = []
    positions: dict[int, int] = {}
    for position, action_row in enumerate(action_rows):
        extra = dict(action_row.extra or {})
        keep_events_for = extra.pop(KEEP_EVENTS_FOR, None)
        actions.append(
            ActionDef(
                type=action_row.type,
                name=action_row.name,
                guid=action_row.guid,
                options=action_row.options if action_row.options is not None else {},
                schedule=action_row.schedule,
                disabled=bool(action_row.disabled),
                key=action_row.key,
                keep_events_for=keep_events_for,
                extra=extra,
                schedule_present=bool(action_row.schedule_stored),
            )
        )
        positions[action_row.id] = position
    link_rows = conn.execute(
        sa.select(t.links.c.source_id, t.links.c.receiver_id)
        .where(t.links.c.story_id == row.id)
        .order_by(t.links.c.id)
    ).all()
    return StoryDef(
        name=row.name,
        guid=row.guid,
        description=row.description,
        schema_version=row.schema_version,
        keep_events_for=row.keep_events_for,
        send_to_story_enabled=bool(row.send_to_story_enabled),
        entry_agent_guid=row.entry_agent_guid,
        exit_agent_guids=list(row.exit_agent_guids or []),
        actions=actions,
        links=[(positions[link.source_id], positions[link.receiver_id]) for link in link_rows],
        extra=dict(row.extra or {}),
    )


def list_stories(conn: Connection) -> list[dict[str, Any]]:
    """Every story with its action count and webhooks, by name.

    Each item: ``id``, ``name``, ``guid``, ``description``, ``actions`` (count),
    ``webhook_paths`` and ``webhooks`` (``name``, ``key``, ``path``, ``secret`` (None when
    there is none), ``disabled`` and ``url``, the ``/webhook/<path>[/<secret>]`` to call,
    relative to the public URL).
    """
    s, a = t.stories.c, t.actions.c
    counts: dict[int, int] = dict(
        conn.execute(sa.select(a.story_id, sa.func.count()).group_by(a.story_id)).all()
    )
    hooks: dict[int, list[dict[str, Any]]] = {}
    for hook in conn.execute(
        sa.select(a.story_id, a.name, a.key, a.webhook_path, a.webhook_secret, a.disabled)
        .where(a.webhook_path.is_not(None))
        .order_by(a.story_id, a.position)
    ):
        hooks.setdefault(hook.story_id, []).append(
            {
                "name": hook.name,
                "key": hook.key,
                "path": hook.webhook_path,
                "secret": hook.webhook_secret or None,
                "disabled": bool(hook.disabled),
                "url": webhook_url("", hook.webhook_path, hook.webhook_secret),
            }
        )
    stories = []
    for row in conn.execute(sa.select(s.id, s.name, s.guid, s.description).order_by(s.name, s.id)):
        webhooks = hooks.get(row.id, [])
        stories.append(
            {
                "id": row.id,
                "name": row.name,
                "guid": row.guid,
                "description": row.description,
                "actions": counts.get(row.id, 0),
                "webhook_paths": [hook["path"] for hook in webhooks],
                "webhooks": webhooks,
            }
        )
    return stories


def delete_story(conn: Connection, name_or_guid: str) -> int:
    """Delete a story with its actions, links, runs, events and jobs; returns its id."""
    story_id = int(_find(conn, name_or_guid).id)
    delete_story_by_id(conn, story_id)
    return story_id


def delete_story_by_id(conn: Connection, story_id: int) -> None:
    """Delete the story with this id and everything hanging off it (nothing when there is none)."""
    a = t.actions.c
    action_ids = list(conn.execute(sa.select(a.id).where(a.story_id == story_id)).scalars())
    _delete_actions(conn, action_ids)
    for table in (t.links, t.events, t.story_runs):
        conn.execute(sa.delete(table).where(table.c.story_id == story_id))
    conn.execute(sa.delete(t.stories).where(t.stories.c.id == story_id))


def stories_with(conn: Connection, *, guid: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """The stories with this guid, or with exactly this name: ``id``, ``guid``, ``name`` and ``actions`` (count)."""
    s, a = t.stories.c, t.actions.c
    count = sa.select(sa.func.count()).where(a.story_id == s.id).scalar_subquery()
    query = sa.select(s.id, s.guid, s.name, count.label("actions")).order_by(s.id)
    if guid is not None:
        query = query.where(s.guid == guid)
    if name is not None:
        query = query.where(s.name == name)
    return [dict(row._mapping) for row in conn.execute(query)]


def set_story_disabled(conn: Connection, story_id: int, disabled: bool, *, now: float) -> int:
    """Disable or enable a story; returns how many held jobs enabling queued again.

    ``updated_at`` moves, so every engine's catalog sees the change. A disabled story's jobs
    are held by the worker that claims them (``engine.queue.hold``); enabling queues them again.
    """
    s, j = t.stories.c, t.jobs.c
    conn.execute(sa.update(t.stories).where(s.id == story_id).values(disabled=disabled, updated_at=now))
    if disabled:
        return 0
    mine = sa.select(t.actions.c.id).where(t.actions.c.story_id == story_id)
    return conn.execute(
        sa.update(t.jobs).where(j.status == "held", j.action_id.in_(mine)).values(status="queued")
    ).rowcount


def story_webhooks(conn: Connection, story_id: int) -> list[dict[str, Any]]:
    """The story's webhooks in order: ``action_id``, ``name``, ``path``, ``secret`` (None when there is none)."""
    a = t.actions.c
    rows = conn.execute(
        sa.select(a.id, a.name, a.webhook_path, a.webhook_secret)
        .where(a.story_id == story_id, a.webhook_path.is_not(None)).order_by(a.position, a.id)
    )
    return [{"action_id": row.id, "name": row.name, "path": row.webhook_path, "secret": row.webhook_secret or None}
            for row in rows]


def action_page(conn: Connection, *, after_id: int | None, limit: int, story_id: int | None = None,
                action_id: int | None = None) -> list[dict[str, Any]]:
    """Actions by id after ``after_id`` (of one story, or one action), each with its ``sources`` and
    ``receivers`` (action ids, as Tines lists them); for the API."""
    a, lk = t.actions.c, t.links.c
    query = sa.select(a.id, a.story_id, a.guid, a.name, a.key, a.type, a.options, a.schedule, a.disabled,
                      a.position).order_by(a.id)
    if story_id is not None:
        query = query.where(a.story_id == story_id)
    if action_id is not None:
        query = query.where(a.id == action_id)
    if after_id is not None:
        query = query.where(a.id > after_id)
    rows = [dict(row._mapping) for row in conn.execute(query.limit(limit))]
    ids = [row["id"] for row in rows]
    sources: dict[int, list[int]] = {}
    receivers: dict[int, list[int]] = {}
    if ids:
        for link in conn.execute(sa.select(lk.source_id, lk.receiver_id).where(
                sa.or_(lk.source_id.in_(ids), lk.receiver_id.in_(ids))).order_by(lk.id)):
            receivers.setdefault(link.source_id, []).append(link.receiver_id)
            sources.setdefault(link.receiver_id, []).append(link.source_id)
    for row in rows:
        row["sources"] = sources.get(row["id"], [])
        row["receivers"] = receivers.get(row["id"], [])
    return rows


def story_page(conn: Connection, *, after_id: int | None, limit: int, story_id: int | None = None
               ) -> list[dict[str, Any]]:
    """Stories by id after ``after_id`` (one when ``story_id``), each with its action count; for the API."""
    s, a = t.stories.c, t.actions.c
    count = sa.select(sa.func.count()).where(a.story_id == s.id).scalar_subquery()
    query = sa.select(s.id, s.guid, s.name, s.description, s.disabled, s.keep_events_for,
                      s.send_to_story_enabled, s.created_at, s.updated_at, count.label("actions")).order_by(s.id)
    if story_id is not None:
        query = query.where(s.id == story_id)
    if after_id is not None:
        query = query.where(s.id > after_id)
    return [dict(row._mapping) for row in conn.execute(query.limit(limit))]
