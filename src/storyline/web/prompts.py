"""GET or POST /prompt?e=&a=&r=&s=&sig=: a person's answer to a prompt, as a page.

Slack and Teams buttons open the URL in a browser (GET); some card actions POST it;
e-mail links are GETs. ``storyline.engine.prompt_answers`` records the answer; this
route only says how it went: 403 for a forged or altered URL, 410 for one whose event
has expired or been purged, else a thank-you (or "already answered") page.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storyline.engine import prompt_answers
from storyline.engine.service import Service
from storyline.store.queries import iso
from storyline.web.pages import page

# Chat apps fetch links posted in messages to draw previews; nobody clicked those.
PREVIEW_AGENTS = ("Slackbot-LinkExpanding", "SkypeUriPreview")


def routes(service: Service) -> list[Route]:
    async def receive(request: Request) -> Response:
        prompt = prompt_answers.verified(service, request.query_params)
        if prompt is None:
            return page(403, "This link is not valid",
                        "The prompt link is incomplete or has been altered, so no answer was recorded.")
        agent = request.headers.get("user-agent", "")
        if request.method == "HEAD" or any(name in agent for name in PREVIEW_AGENTS):
            return page(200, "Prompt", f"Open this link to answer \u201c{prompt.status}\u201d.")
        result = await prompt_answers.receive(service, prompt, time.time())
        if result.outcome == "gone":
            return page(410, "This prompt has expired",
                        "The event this prompt belongs to has expired or was purged, so the answer "
                        "cannot reach its story. Nothing was recorded.")
        where = f" for \u201c{result.action.name}\u201d" if result.action is not None else ""
        if result.outcome == "repeated":
            return page(200, "Already answered",
                        f"The answer \u201c{prompt.status}\u201d{where} was already recorded at "
                        f"{iso(result.at)}; it was not sent again.")
        return page(200, "Thank you",
                    f"Your answer \u201c{prompt.status}\u201d{where} was recorded at {iso(result.at)}.")

    return [Route("/prompt", receive, methods=["GET", "POST"])]
