"""Send to Story (Agents::SendToStoryAgent): run a sub-story and emit what its exit returns.

The action only renders what to send; the engine (``storyline.engine.substory``)
starts the sub-story run in the transaction that files this result, keeps the job
waiting, and emits each event of the sub-story's exit actions as this action's
output in the caller's story run. A sub-story that finishes without reaching an
exit action makes the caller emit nothing (Tines emits only "information returned
by the sub-story's exit action").

``story`` is a name, id or guid, ``{% story Name %}`` (legacy widget) or
``{{ .STORY.slug }}`` / ``<<STORY.slug>>``. ``payload`` reaches the entry webhook under
``body`` unless ``send_payload_as_body`` is false, as in Tines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from storyline.actions.base import ActionError, Result, RunContext, SendToStory
from storyline.model import SEND_TO_STORY_TYPE
from storyline.templating.values import option_flag

TYPE = SEND_TO_STORY_TYPE
DESCRIPTION = "Send an event to a sub-story and emit the event its exit action returns."
PURE: Final = False


def validate(options: Mapping[str, Any]) -> list[str]:
    problems = []
    story = options.get("story")
    if story is None or (isinstance(story, str) and not story.strip()):
        problems.append("option 'story' is required: the sub-story's name, id or {% story Name %}")
    elif not isinstance(story, str | int) or isinstance(story, bool):
        problems.append(f"option 'story' must be a story name or id, not {type(story).__name__}")
    as_body = options.get("send_payload_as_body")
    if as_body is not None and not isinstance(as_body, bool | str):
        problems.append("option 'send_payload_as_body' must be true or false")
    return problems


async def run(ctx: RunContext) -> Result:
    if ctx.job_state:
        # The job only runs again if the sub-story run outlived its wait (its retention).
        raise ActionError(
            f"sub-story run {ctx.job_state.get('sub_run')} of story {ctx.job_state.get('story')!r} "
            "did not finish before its events expired"
        )
    story = ctx.option("story")
    if story is None or not str(story).strip():
        raise ActionError("option 'story' rendered empty; name the sub-story to send to")
    payload = ctx.option("payload", {})
    if option_flag(ctx.option("send_payload_as_body", True)) or not isinstance(payload, Mapping):
        body: dict[str, Any] = {"body": payload}
    else:
        body = dict(payload)
    return Result(send_to_story=SendToStory(str(story).strip(), body))
