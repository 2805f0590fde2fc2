"""Every route x anonymous / viewer / editor / admin, generated from the app's route table.

A route added without a rule fails here, before anyone can reach it unguarded. Routes that
need a permission answer 401 to nobody, 403 (naming the role needed) to a role below it, and
anything but 401/403 to a role that has it. Public routes say why they are public.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.routing import BaseRoute, Mount, Route

from storyline.accounts.roles import LEAST_ROLE, RANK, Role
from storyline.config import Settings
from storyline.web.access import rule_of
from storyline.web.app import create_app
from tests.apiclient import Api, api_on
from tests.builders import WEBHOOK, agent, story

ROLES: list[Role | None] = [None, Role.VIEWER, Role.EDITOR, Role.ADMIN]


def flatten(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        if isinstance(route, Mount) and rule_of(route) is None:
            yield from flatten(list(route.routes))
        else:
            yield route


def app_routes(**settings: object) -> list[BaseRoute]:
    app = create_app(Settings(database_url="sqlite://", **settings), worker=False)  # type: ignore[arg-type]
    return list(flatten(list(app.routes)))


def concrete(path: str) -> str:
    """A path to call for a route's pattern: ids 1, names ``x``."""
    return re.sub(r"\{(\w+)(?::(\w+))?\}", lambda m: "1" if m.group(2) == "int" else "x", path)


@pytest.mark.parametrize("sandbox", [False, True], ids=["serve", "serve --demo"])
def test_every_route_has_a_rule(sandbox: bool) -> None:
    unguarded = [getattr(route, "path", repr(route)) for route in app_routes(sandbox=sandbox)
                 if rule_of(route) is None]
    assert unguarded == [], "give these routes a rule (storyline.web.access.guarded or open_to_anyone)"


def guarded_calls() -> list[tuple[str, str, Role]]:
    calls = []
    for route in app_routes():
        rule = rule_of(route)
        if rule is None or rule.permission is None or not isinstance(route, Route):
            continue
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                calls.append((method, route.path, LEAST_ROLE[rule.permission]))
    return calls


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'matrix.db'}"
    hook = story("Matrix", [agent(WEBHOOK, "Hook", path="matrix-hook", secret="matrix-secret")], [])
    with api_on(url, hook) as api:
        yield api


@pytest.mark.parametrize(("method", "path", "least"), guarded_calls(),
                         ids=[f"{m} {p}" for m, p, _ in guarded_calls()])
def test_each_guarded_route_answers_each_role_as_its_rule_says(api: Api, method: str, path: str,
                                                                 least: Role) -> None:
    for role in ROLES:
        answer = api.send(method, concrete(path), None if role is None else role.value, json={})
        if role is None:
            assert answer.status_code == 401, (role, answer.text)
        elif RANK[role] < RANK[least]:
            assert answer.status_code == 403, (role, answer.text)
            assert answer.json()["detail"]["role_needed"] == least.value
        else:
            assert answer.status_code not in (401, 403), (role, answer.text)
