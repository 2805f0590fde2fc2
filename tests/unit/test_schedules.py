"""When a scheduled action ticks: cron in the entry's time zone, DST, legacy values, bad input."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from storyline.tines.schedules import Cron, ScheduleError, next_tick, parse, problems

NEW_YORK = ZoneInfo("America/New_York")


def at(*parts: int, zone: ZoneInfo | None = None, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=zone or UTC, fold=fold).timestamp()


def ticks(cron: Cron, start: float, count: int) -> list[datetime]:
    out = []
    for _ in range(count):
        start = cron.next_after(start)
        out.append(datetime.fromtimestamp(start, ZoneInfo(cron.timezone)))
    return out


def test_tines_schedule_list_is_read_with_its_time_zone() -> None:
    crons = parse([{"cron": "0 9 * * *", "timezone": "America/Chicago"}])
    assert crons == [Cron("0 9 * * *", "America/Chicago")]
    # 9am in Chicago is 15:00 UTC in winter (CST) and 14:00 UTC in summer (CDT).
    assert next_tick(crons, at(2024, 1, 15, 12)) == at(2024, 1, 15, 15)
    assert next_tick(crons, at(2024, 7, 15, 12)) == at(2024, 7, 15, 14)


def test_next_tick_is_strictly_after_and_every_minute_is_the_finest() -> None:
    crons = parse([{"cron": "* * * * *"}])
    assert next_tick(crons, at(2024, 5, 1, 10, 0)) == at(2024, 5, 1, 10, 1)
    assert next_tick(crons, at(2024, 5, 1, 10, 0) + 0.5) == at(2024, 5, 1, 10, 1)


def test_several_entries_tick_at_the_earliest() -> None:
    crons = parse([{"cron": "0 12 * * *", "timezone": "UTC"}, {"cron": "30 6 * * *", "timezone": "UTC"}])
    assert next_tick(crons, at(2024, 5, 1, 0)) == at(2024, 5, 1, 6, 30)
    assert next_tick(crons, at(2024, 5, 1, 7)) == at(2024, 5, 1, 12)


def test_spring_forward_runs_a_skipped_time_once_at_the_jump() -> None:
    cron = Cron("30 2 * * *", "America/New_York")  # 2:30 does not exist on 2024-03-10
    days = ticks(cron, at(2024, 3, 9, 12, zone=NEW_YORK), 3)
    assert [d.strftime("%m-%d %H:%M") for d in days] == ["03-10 03:00", "03-11 02:30", "03-12 02:30"]


def test_fall_back_runs_a_fixed_hour_schedule_once() -> None:
    cron = Cron("30 1 * * *", "America/New_York")  # 1:30 happens twice on 2024-11-03
    days = ticks(cron, at(2024, 11, 2, 12, zone=NEW_YORK), 3)
    assert [d.strftime("%m-%d %H:%M") for d in days] == ["11-03 01:30", "11-04 01:30", "11-05 01:30"]


def test_fall_back_runs_an_interval_schedule_at_every_real_instant() -> None:
    cron = Cron("*/30 * * * *", "America/New_York")
    start = at(2024, 11, 3, 0, 50, zone=NEW_YORK)
    instants = [d.timestamp() for d in ticks(cron, start, 5)]
    # 01:00 EDT, 01:30 EDT, 01:00 EST, 01:30 EST, 02:00 EST: half an hour apart in real time.
    assert [b - a for a, b in itertools.pairwise(instants)] == [1800.0] * 4


@pytest.mark.parametrize(
    ("legacy", "cron"),
    [("every_1m", "*/1 * * * *"), ("every_10m", "*/10 * * * *"), ("every_1h", "0 */1 * * *"),
     ("every_1d", "0 0 * * *"), ("every_7d", "0 0 * * 0"), ("midnight", "0 0 * * *"), ("3pm", "0 15 * * *")],
)
def test_legacy_huginn_schedules_become_cron_in_utc(legacy: str, cron: str) -> None:
    assert parse(legacy) == [Cron(cron, "UTC")]


@pytest.mark.parametrize("value", [None, [], "never", ""])
def test_no_schedule(value: object) -> None:
    assert parse(value) == []
    assert next_tick(parse(value), 0.0) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([{"cron": "* * * * * *"}], "seconds field; schedules run at most once a minute"),
        ([{"cron": "61 * * * *"}], "schedule[0].cron '61 * * * *' is not a cron expression"),
        ([{"cron": "0 9 * * *", "timezone": "Mars/Olympus"}], "schedule[0].timezone 'Mars/Olympus'"),
        ([{"timezone": "UTC"}], "schedule[0] must be an object with a 'cron' string"),
        ("every_fortnight", "not a cron list nor a legacy value"),
        (42, "must be a list"),
    ],
)
def test_bad_schedules_say_which_entry_and_why(value: object, message: str) -> None:
    with pytest.raises(ScheduleError, match=re.escape(message)):
        parse(value)


def test_only_schedulable_types_may_carry_a_schedule() -> None:
    assert problems("Agents::HTTPRequestAgent", [{"cron": "*/5 * * * *"}]) == []
    assert problems("Agents::SendToStoryAgent", [{"cron": "*/5 * * * *"}]) == []
    assert problems("Agents::TriggerAgent", "never") == []
    [message] = problems("Agents::TriggerAgent", [{"cron": "*/5 * * * *"}])
    assert "TriggerAgent actions cannot be scheduled" in message


def test_importer_refuses_a_bad_schedule_naming_the_action() -> None:
    from storyline.tines.importer import StoryFormatError, parse_story
    from tests.builders import HTTP, agent, story

    http = agent(HTTP, "Poll feed", url="https://example.com/feed", method="get")
    http["schedule"] = [{"cron": "*/10 * * * * *", "timezone": "UTC"}]
    with pytest.raises(StoryFormatError, match=r"action 'Poll feed' .*seconds field"):
        parse_story(story("Poller", [http], []))
