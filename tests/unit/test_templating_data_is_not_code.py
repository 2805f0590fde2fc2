"""Event data is never evaluated: a path argument that comes from a webhook is a path, nothing else.

The attack: ``=MAP(map_hook.items, map_hook.field)`` with ``field`` sent as
``name & "|" & DOWNCASE(CREDENTIAL.apikey)`` put the lower-cased credential (which redaction of
the exact value does not catch) into the event and the outbound request.
"""

from __future__ import annotations

from typing import Any

import pytest

from storyline.templating import StaticScope, TemplateError, filters, jsonpath, render_value
from storyline.templating.values import to_json

SECRET = "SeCrEt-ApI-kEy-0042"
HOSTILE = 'name & "|" & DOWNCASE(CREDENTIAL.apikey)'
EVENT: dict[str, Any] = {
    "map_hook": {
        "items": [{"name": "ann", "id": 1}, {"name": "bob", "id": 2}],
        "field": HOSTILE,
    },
}


@pytest.fixture
def scope() -> StaticScope:
    return StaticScope(credentials={"apikey": SECRET})


def leaks(value: Any) -> bool:
    text = to_json(value).lower()
    return SECRET.lower() in text


def test_map_reads_a_path_from_event_data_as_a_path_never_as_a_formula(scope: StaticScope) -> None:
    assert render_value("=MAP(map_hook.items, map_hook.field)", EVENT, scope) == [None, None]
    assert render_value("names: <<MAP(map_hook.items, map_hook.field)>>", EVENT, scope) == "names: [null,null]"


@pytest.mark.parametrize(
    "template",
    [
        "=MAP(map_hook.items, map_hook.field)",
        "<<MAP(map_hook.items, map_hook.field)>>",
        "{{ .map_hook.items | map: .map_hook.field | join: ',' }}",
        "{{ .map_hook.items | where: .map_hook.field | size }}",
        "{{ .map_hook.items | where: .map_hook.field, 'x' | size }}",
        "{{ .map_hook.items | get: .map_hook.field }}",
        "{{ .map_hook.items | jsonpath: .map_hook.field }}",
        "{{ .map_hook | jsonpath: .map_hook.field }}",
        "{{ .map_hook.items | sort: .map_hook.field | map: 'name' | join: ',' }}",
        "{{ .map_hook.items | sort_natural: .map_hook.field | size }}",
        "{{ .map_hook.items | uniq: .map_hook.field | size }}",
        "{{ .map_hook.items | compact: .map_hook.field | size }}",
        "{{ .map_hook.items | sum: .map_hook.field }}",
        "{{ .map_hook.items | reject: .map_hook.field | size }}",
        "{{ .map_hook.items | find: .map_hook.field }}",
        "{{ .map_hook.items | find_index: .map_hook.field }}",
        "{{ .map_hook.items | has: .map_hook.field }}",
        "{{ .map_hook.field }}",
        "<<map_hook.field>>",
        "{{ .map_hook.field | regex_replace: 'x', .map_hook.field }}",
    ],
)
def test_no_function_or_filter_turns_a_path_from_event_data_into_code(template: str, scope: StaticScope) -> None:
    try:
        result = render_value(template, EVENT, scope)
    except TemplateError as err:
        result = str(err)  # refusing is fine; saying the secret is not
    assert not leaks(result), result


@pytest.mark.parametrize("function", ["FILTER", "MAP_LAMBDA", "REDUCE"])
def test_functions_that_take_a_lambda_refuse_text(function: str, scope: StaticScope) -> None:
    with pytest.raises(TemplateError, match="expected a LAMBDA") as info:
        render_value(f"={function}(map_hook.items, map_hook.field)", EVENT, scope)
    assert not leaks(str(info.value))


def test_a_lambda_the_author_wrote_still_runs(scope: StaticScope) -> None:
    assert render_value("=MAP(map_hook.items, LAMBDA(u, UPCASE(u.name)))", EVENT, scope) == ["ANN", "BOB"]
    assert render_value("=FILTER(map_hook.items, LAMBDA(u, u.id > 1))", EVENT, scope) == [{"name": "bob", "id": 2}]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("name", ["ann", "bob"]),
        ("profile.email", ["a@x", None]),
        ('["User ID"]', ["u-1", "u-2"]),
        ("['User ID']", ["u-1", "u-2"]),
        ("roles[0]", ["admin", "viewer"]),
        ("roles.1", ["dev", None]),
        ('history[0]["at"]', [1, None]),
        ("a.b.c", [None, None]),
        ("", [None, None]),
    ],
)
def test_map_paths_are_dotted_keys_with_bracketed_steps(path: str, expected: list[Any], scope: StaticScope) -> None:
    users = [
        {"name": "ann", "User ID": "u-1", "roles": ["admin", "dev"], "profile": {"email": "a@x"},
         "history": [{"at": 1}]},
        {"name": "bob", "User ID": "u-2", "roles": ["viewer"], "history": []},
    ]
    assert render_value("=MAP(hook.users, hook.path)", {"hook": {"users": users, "path": path}}, scope) == expected


def test_liquid_paths_accept_the_same_bracketed_steps(scope: StaticScope) -> None:
    event = {"hook": {"users": [{"User ID": "u-1", "roles": ["admin"]}, {"User ID": "u-2", "roles": []}]}}
    assert render_value("""{{ .hook.users | map: '["User ID"]' | join: ',' }}""", event, scope) == "u-1,u-2"
    assert render_value("{{ .hook.users | where: 'roles[0]', 'admin' | size }}", event, scope) == "1"


def test_long_paths_from_events_are_read_but_not_kept_in_a_cache(scope: StaticScope) -> None:
    long = "k" * 5000
    steps, paths = filters._path_steps.cache_info().currsize, jsonpath._compile_path.cache_info().currsize
    event = {"hook": {"items": [{long: {"x": 1}}], "field": long + ".x"}}
    assert render_value("=MAP(hook.items, hook.field)", event, scope) == [1]
    assert render_value("{{ .hook.items | jsonpath: .hook.field | size }}", event, scope) == "0"
    assert filters._path_steps.cache_info().currsize == steps
    assert jsonpath._compile_path.cache_info().currsize == paths


@pytest.mark.parametrize("template", ['{{ ["\x00scope"] }}', '{{ [hook.key] }}', '{{ hook[hook.key] }}',
                                      '{% assign k = hook.key %}{{ [k] }}'])
def test_no_key_from_event_data_or_a_template_reaches_the_render_scope_and_its_credentials(
        template: str, scope: StaticScope) -> None:
    event = {"hook": {"key": "\x00scope"}}
    assert not leaks(render_value(template, event, scope))
