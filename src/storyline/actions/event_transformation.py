"""Event Transform: reshape, split, join, filter or pace events; one ``mode`` per action.

Modes and what each emits under the action's key (the engine files it on top of the
incoming event), with the evidence behind each shape:

* ``message_only`` — the rendered ``payload``. Legacy (schema 1) exports have no
  ``payload``: their other keys *are* the payload (``{"mode": ..., "status": "{{...}}"}``
  or Huginn's single ``message``), minus Huginn/scheduler leftovers. With ``loop`` the
  payload is rendered once per element with ``LOOP`` = {value, index, key (objects only),
  previous_result} and the output is the list of results (Tines docs).
* ``extract`` — ``{to: matches}`` per matcher, with Ruby ``String#scan`` shapes because
  that is what stories index into: a pattern without capture groups gives a list of
  strings (``.extract_urls.urls`` is exploded into URLs); with groups, a list of
  group lists (``.extract_domain.domain.first.first``). Case-sensitive unless the
  pattern says ``(?i)``; ``^``/``$`` match at line breaks, as in Ruby.
* ``explode`` — one output per element: ``{"guid", "index", "size", <to>: element}``;
  the guid is shared by the elements of one explode, ``size`` counts what was emitted
  (after ``limit``) so an implode on ``size`` completes. A path that is not a list (or a
  JSON text of one) emits nothing, with a log line (Tines: "no Event will be generated").
* ``deduplicate`` — ``{"unique_event": true}`` (Tines docs; a real story reads
  ``.dedupe_action.unique_event``). Duplicates are dropped with a log line, or emitted
  with ``unique_event: false`` under ``emit_duplicate(s)``. Only emitted (unique) values
  are remembered, as in Huginn, so ``period`` counts from the last emitted event.
* ``delay`` — waits ``seconds`` or ``until`` (by asking the engine to run the job again
  later), then emits ``{"seconds": N}`` (Tines docs).
* ``implode`` — one output, the list of collected items (``item_path``, default the
  whole incoming event), once ``size_path`` items of one ``guid_path`` group arrived or
  ``seconds`` after the first one. Tines' documented output and every story that reads
  an implode (``.implode_emails | as_object``, ``.implode_emails.size``,
  ``{% for e in implode_breach_details %}{{ e.get_breach_details... }}``) use a list of
  whole events directly under the key.
* ``throttle`` — passes events on at most ``runs_per_interval`` runs per ``interval``,
  ``events_per_run`` events each, per ``throttle_key``; excess events wait for a later
  slot (never dropped). Emits ``{"capacity_per_minute": runs per minute}`` (Tines docs).
* ``automatic`` is refused: Tines generates its code with an AI model at build time.

Every mode also honours the common ``rules`` / ``must_match`` options: when present the
action only acts on events that match them (:mod:`storyline.actions.rules`). Each mode is
a module of :mod:`storyline.actions.transform`, its validator beside its runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from storyline.actions.base import ActionError, Result, RunContext
from storyline.actions.rules import evaluate_rules, validate_rules
from storyline.actions.transform import (
    Mode,
    deduplicate,
    delay,
    explode,
    extract,
    implode,
    message_only,
    throttle,
)

TYPE = "Agents::EventTransformationAgent"
DESCRIPTION = "Reshape, extract, explode, implode, deduplicate, delay or throttle events."
PURE: Final = True

MODES: dict[str, Mode] = {
    "message_only": message_only,
    "extract": extract,
    "explode": explode,
    "deduplicate": deduplicate,
    "delay": delay,
    "implode": implode,
    "throttle": throttle,
}
UNSUPPORTED_MODES = {"automatic": "it needs Tines' AI to generate its code"}


def needs_state(options: Mapping[str, Any]) -> bool:
    """Whether a run must see and write the action's state in the transaction that records it."""
    mode = MODES.get(str(options.get("mode")))
    return mode is not None and mode.STATEFUL


def validate(options: Mapping[str, Any]) -> list[str]:
    """Problems with the options, each a sentence naming the option, before anything runs."""
    mode = options.get("mode")
    if mode in UNSUPPORTED_MODES:
        return [f"option 'mode' is '{mode}', which storyline does not support: {UNSUPPORTED_MODES[mode]}"]
    if mode not in MODES:
        return [f"option 'mode' must be one of {', '.join(MODES)} (got {mode!r})"]
    problems: list[str] = MODES[mode].validate(options)
    if "rules" in options:
        problems.extend(validate_rules(options, required=False))
    return problems


def run(ctx: RunContext) -> Result:
    """Run the configured mode; the common ``rules`` gate it on the first run of a job."""
    mode = ctx.action.options.get("mode")
    if mode in UNSUPPORTED_MODES:
        raise ActionError(f"mode '{mode}' is not supported: {UNSUPPORTED_MODES[mode]}")
    module = MODES.get(str(mode))
    if module is None:
        raise ActionError(f"option 'mode' must be one of {', '.join(MODES)} (got {mode!r})")
    logs: list[str] = []
    if ctx.action.options.get("rules") and ctx.job_state is None:
        matched, logs = evaluate_rules(ctx)
        if not matched:
            return Result(logs=[*logs, "rules did not match: nothing emitted"])
    result: Result = module.run(ctx)
    result.logs[:0] = logs
    return result
