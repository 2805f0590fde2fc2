"""Settings from the environment (and CLI flags, which override them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from storyline.hosts import parse_allow, parse_host_names, parse_overrides

DEFAULT_DATABASE_URL = "sqlite:///./storyline.db"
TEAMS_SERVICE_HOSTS = (
    "smba.trafficmanager.net", "*.botframework.com", "*.teams.microsoft.com", "*.teams.microsoft.us",
)
"""Microsoft's documented Bot Framework / Teams connector hosts (the Agents SDK's outbound list)."""


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}={raw!r} is not a number") from exc


def _env_positive(name: str, default: float, unit: str) -> float:
    value = _env_float(name, default)
    if not value > 0:
        raise SystemExit(f"{name}={value:g}: give a number of {unit} above 0")
    return value


def _env_days(name: str, default: float) -> float:
    return _env_positive(name, default, "days")


def _env_overrides() -> dict[str, str]:
    try:
        return parse_overrides(os.environ.get("STORYLINE_EGRESS_OVERRIDES", ""))
    except ValueError as exc:
        raise SystemExit(f"STORYLINE_EGRESS_OVERRIDES: {exc} (example: slack.com=http://127.0.0.1:9001)") from exc


def _env_tenant_hosts() -> tuple[str, ...]:
    try:
        return parse_host_names(os.environ.get("STORYLINE_TINES_TENANT_HOSTS", ""), "STORYLINE_TINES_TENANT_HOSTS")
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc


def _env_switch(name: str) -> bool | None:
    """A yes/no setting that may be left unset (None: let the code decide)."""
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name}={raw!r} must be true or false")


def _env_allow() -> tuple[str, ...]:
    try:
        return parse_allow(os.environ.get("STORYLINE_EGRESS_ALLOW", ""))
    except ValueError as exc:
        raise SystemExit(f"STORYLINE_EGRESS_ALLOW: {exc}") from exc


def _env_hosts(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return parse_allow(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}: {exc}") from exc


PASSWORD_HASH_ENV = "STORYLINE_PASSWORD_HASH"


def password_hash_cost() -> tuple[int, int, int] | None:
    """argon2id's ``(time_cost, memory_kib, parallelism)`` from ``STORYLINE_PASSWORD_HASH`` (``t=3,m=65536,p=4``),
    or None for the recommended ones (accounts/passwords.py). Read at each use, like the regex limit.

    A test suite hashes hundreds of passwords: at the recommended cost each takes most of a second of
    CPU on a busy machine. Production leaves it unset.
    """
    raw = os.environ.get(PASSWORD_HASH_ENV, "").strip()
    return _parse_password_hash_cost(raw) if raw else None


def _parse_password_hash_cost(raw: str) -> tuple[int, int, int]:
    example = f"{PASSWORD_HASH_ENV}=t=3,m=65536,p=4 (argon2id's time cost, memory in KiB, parallelism)"
    try:
        given = {name.strip(): int(value) for name, _, value in (part.partition("=") for part in raw.split(","))}
    except ValueError:
        raise SystemExit(f"{PASSWORD_HASH_ENV}={raw!r} is not of the form {example}") from None
    if sorted(given) != ["m", "p", "t"]:
        raise SystemExit(f"{PASSWORD_HASH_ENV}={raw!r}: give t, m and p, as {example}")
    t, m, p = given["t"], given["m"], given["p"]
    if t < 1 or not 1 <= p <= 255 or m < 8 * p:
        raise SystemExit(f"{PASSWORD_HASH_ENV}={raw!r}: argon2id needs t >= 1, 1 <= p <= 255 and m >= 8 * p")
    return t, m, p


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    public_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 2 * 1024 * 1024
    egress_overrides: dict[str, str] = field(default_factory=dict)
    # Tines tenants whose API a story calls (https://tenant.tines.io/api/v1/...): sent to this
    # server's own API at public_url instead (see ``egress_routes``).
    tines_tenant_hosts: tuple[str, ...] = ()
    egress_allow: tuple[str, ...] = ()
    egress_timeout: float = 30.0
    max_response_bytes: int = 10 * 1024 * 1024
    # Bytes of events one story run may write (an explode of a large body multiplies them).
    max_run_bytes: int = 64 * 1024 * 1024
    lease_seconds: float = 30.0
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    # Jobs one worker runs at once, by what they wait on: ``worker_concurrency`` bounds the jobs using
    # the CPU or the database writer; ``worker_in_flight`` bounds them all, those waiting on an
    # upstream (an HTTP request, a mail server) included, which cost a coroutine, not a slot.
    worker_concurrency: int = 32
    worker_in_flight: int = 512
    sqlite_synchronous: str = "FULL"
    # Send Email: the SMTP server every Agents::EmailAgent sends through.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool | None = None  # None: upgrade when the server offers STARTTLS
    smtp_user: str = ""
    smtp_password_credential: str = ""  # the name of a credential, never the password itself
    smtp_from: str = ""
    smtp_timeout: float = 30.0
    # Run the scheduler next to the worker (on PostgreSQL one process at a time ticks).
    scheduler: bool = True
    # Teams: the only serviceUrl hosts a verified activity may name (the bot token goes there).
    teams_service_hosts: tuple[str, ...] = TEAMS_SERVICE_HOSTS
    # serve --demo: answer as VirusTotal, URLhaus, RDAP, Slack and Teams under /_sandbox/.
    sandbox: bool = False
    # The HTTP server (serve): what one client may cost it (storyline.web.server).
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000
    # Days the audit log keeps an entry (engine/retention.py purges older ones).
    audit_keep_days: float = 365.0
    # Browser sessions (storyline.accounts.sessions): signed out after this long without a request,
    # and after this long whatever happens.
    session_idle_hours: float = 12.0
    session_max_days: float = 7.0

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        password_hash_cost()  # a bad value stops serve and the CLI at start, not at the first sign-in
        settings = cls(
            database_url=os.environ.get("STORYLINE_DATABASE_URL") or DEFAULT_DATABASE_URL,
            public_url=(os.environ.get("STORYLINE_PUBLIC_URL") or cls.public_url).rstrip("/"),
            max_body_bytes=int(_env_float("STORYLINE_MAX_BODY_BYTES", cls.max_body_bytes)),
            egress_overrides=_env_overrides(),
            tines_tenant_hosts=_env_tenant_hosts(),
            egress_allow=_env_allow(),
            egress_timeout=_env_float("STORYLINE_EGRESS_TIMEOUT", cls.egress_timeout),
            max_response_bytes=int(_env_float("STORYLINE_MAX_RESPONSE_BYTES", cls.max_response_bytes)),
            max_run_bytes=int(_env_float("STORYLINE_MAX_RUN_BYTES", cls.max_run_bytes)),
            lease_seconds=_env_float("STORYLINE_LEASE_SECONDS", cls.lease_seconds),
            max_attempts=int(_env_float("STORYLINE_MAX_ATTEMPTS", cls.max_attempts)),
            retry_base_seconds=_env_float("STORYLINE_RETRY_BASE_SECONDS", cls.retry_base_seconds),
            worker_concurrency=int(_env_float("STORYLINE_WORKER_CONCURRENCY", cls.worker_concurrency)),
            worker_in_flight=int(_env_float("STORYLINE_WORKER_IN_FLIGHT", cls.worker_in_flight)),
            sqlite_synchronous=(os.environ.get("STORYLINE_SQLITE_SYNCHRONOUS") or "FULL").upper(),
            smtp_host=os.environ.get("STORYLINE_SMTP_HOST", "").strip(),
            smtp_port=int(_env_float("STORYLINE_SMTP_PORT", cls.smtp_port)),
            smtp_starttls=_env_switch("STORYLINE_SMTP_STARTTLS"),
            smtp_user=os.environ.get("STORYLINE_SMTP_USER", "").strip(),
            smtp_password_credential=os.environ.get("STORYLINE_SMTP_PASSWORD_CREDENTIAL", "").strip(),
            smtp_from=os.environ.get("STORYLINE_SMTP_FROM", "").strip(),
            smtp_timeout=_env_float("STORYLINE_SMTP_TIMEOUT", cls.smtp_timeout),
            teams_service_hosts=_env_hosts("STORYLINE_TEAMS_SERVICE_HOSTS", TEAMS_SERVICE_HOSTS),
            scheduler=os.environ.get("STORYLINE_SCHEDULER", "1").strip().lower() not in ("0", "false", "no", "off"),
            max_header_bytes=int(_env_float("STORYLINE_MAX_HEADER_BYTES", cls.max_header_bytes)),
            header_timeout=_env_float("STORYLINE_HEADER_TIMEOUT", cls.header_timeout),
            body_timeout=_env_float("STORYLINE_BODY_TIMEOUT", cls.body_timeout),
            max_connections=int(_env_float("STORYLINE_MAX_CONNECTIONS", cls.max_connections)),
            audit_keep_days=_env_days("STORYLINE_AUDIT_KEEP_DAYS", cls.audit_keep_days),
            session_idle_hours=_env_positive("STORYLINE_SESSION_IDLE_HOURS", cls.session_idle_hours, "hours"),
            session_max_days=_env_days("STORYLINE_SESSION_MAX_DAYS", cls.session_max_days),
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def egress_routes(self) -> dict[str, str]:
        """Where egress sends a host instead of the host itself: each Tines tenant host to this server
        (its ``public_url``, which ``serve`` sets to its own address unless STORYLINE_PUBLIC_URL is
        set), then ``egress_overrides``, which win."""
        return {**dict.fromkeys(self.tines_tenant_hosts, self.public_url), **self.egress_overrides}
