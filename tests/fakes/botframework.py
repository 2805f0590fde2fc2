"""Microsoft's side of a Teams bot for tests: :class:`storyline.standins.botframework.BotFramework` on a free port.

Only the bot's own app id and secret get a token, only members given to ``add_member`` are
in the roster, and a Workflows post needs ``sig=WORKFLOW_SIG``. ``overrides()`` sends every
Microsoft host here; ``mint()`` signs activity tokens as the Bot Connector does, ``rotate()``
swaps the key. ``activities``, ``conversations`` and ``workflow_posts`` hold what the bot sent;
``calls`` every request.
"""

from __future__ import annotations

from typing import Any

from storyline.standins.botframework import HOSTS, SCOPE, BotFramework, ConnectorKey, channel_message
from tests.fakes.server import ASGIApp, FakeServer

SERVICE_URL = "https://smba.trafficmanager.net/amer/"
TEAM_ID = "19:team-general@thread.tacv2"
TENANT_ID = "72f988bf-0000-0000-0000-000000000001"
CONVERSATION = f"{TEAM_ID};messageid=1481567603816"
JANE = {"id": "29:user-jane", "name": "Jane Smith", "aadObjectId": "9d3e08f9-0000"}
WORKFLOW_HOST = "prod-01.westus.logic.azure.com"
WORKFLOW_SIG = "workflow-sas-signature-77"
_KEY = ConnectorKey.generate()  # RSA generation is slow; one key serves every fake unless rotated

__all__ = ["SCOPE", "SERVICE_URL", "TEAM_ID", "TENANT_ID", "WORKFLOW_HOST", "WORKFLOW_SIG", "FakeBotFramework"]


class FakeBotFramework(BotFramework, FakeServer):
    rate_limit_body = {"error": {"code": "Throttled", "message": "Too many requests"}}

    def __init__(self, app_id: str = "bot-app-id-0001", app_secret: str = "bot-app-secret-42") -> None:
        BotFramework.__init__(self, app_id, app_secret, key=_KEY, workflow_sig=WORKFLOW_SIG, tenant_id=TENANT_ID)
        FakeServer.__init__(self)

    def build_app(self) -> ASGIApp:
        return self.asgi()

    def overrides(self) -> dict[str, str]:
        """Egress host overrides that send every Microsoft host a bot talks to here."""
        return dict.fromkeys(HOSTS, self.url)

    def reset(self) -> None:
        FakeServer.reset(self)
        BotFramework.reset(self)

    def rotate(self) -> ConnectorKey:
        """Sign with (and publish only) a new key, as Microsoft does when it rolls its keys."""
        self.key = ConnectorKey.generate()
        return self.key

    def mint(self, service_url: str = SERVICE_URL, *, app_id: str | None = None, **claims: Any) -> str:
        return self.key.sign(str(self.app_id) if app_id is None else app_id, service_url, **claims)

    def activity(self, text: str = "", *, service_url: str = SERVICE_URL, **fields: Any) -> dict[str, Any]:
        """A message activity as Teams delivers an @mention of the bot in a channel, from Jane Smith."""
        return channel_message(text, str(self.app_id), service_url=service_url, conversation=CONVERSATION,
                               tenant_id=TENANT_ID, team_id=TEAM_ID, sender=JANE, **fields)
