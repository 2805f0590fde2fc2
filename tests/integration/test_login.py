"""Signing in with a browser: sessions, their cookie and expiry, CSRF, throttling, the first admin's link.

On SQLite and PostgreSQL; time is the app's clock (tests/signin.py), moved by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from storyline.accounts import audit, logins, sessions, setup
from storyline.accounts.roles import Permission
from storyline.accounts.users import remove_user, set_password
from storyline.credentials.keys import BROWSER_KEY, derive, load_key
from storyline.engine import retention
from storyline.store import tables as t
from storyline.store.db import make_engine
from storyline.web.access import guarded, needs
from tests.apiclient import api_on
from tests.signin import PASSWORD, T0, USERS, Browser, browser_on, hidden

ANA = USERS["admin"]
HOUR = 3600.0


@pytest.fixture
def browser(database_url: str) -> Iterator[Browser]:
    with browser_on(database_url) as opened:
        yield opened


def audit_entries(database_url: str) -> list[dict[str, str]]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        entries = list(reversed(audit.entries(conn)))
    engine.dispose()
    return entries


def count(database_url: str, table: sa.Table) -> int:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return int(rows)


def signed_in_as(browser: Browser) -> str | None:
    """Who the API says the browser is (None: not signed in)."""
    answer = browser.client.get("/api/v1/stories", headers={"accept": "application/json"})
    if answer.status_code == 401:
        return None
    assert answer.status_code == 200, answer.text
    return "signed in"


# -- signing in ------------------------------------------------------------------------------------


def test_signing_in_sets_an_httponly_lax_session_cookie_and_goes_to_the_next_page(browser: Browser) -> None:
    answer = browser.sign_in(ANA, next_path="/api/v1/stories?per_page=5")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/api/v1/stories?per_page=5"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("storyline_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=lax", f"max-age={7 * 24 * 3600}"} <= flags
    assert "secure" not in flags
    assert signed_in_as(browser) == "signed in"
    entry = audit_entries(browser.database_url)[-1]
    assert (entry["actor"], entry["action"], entry["target"]) == (f"user:{ANA}", "login.success", ANA)


def test_the_session_cookie_is_secure_when_the_public_url_is_https(database_url: str) -> None:
    with browser_on(database_url, base_url="https://testserver", public_url="https://storyline.example") as browser:
        cookie = next(c for c in browser.sign_in(ANA).headers.get_list("set-cookie")
                      if c.startswith("storyline_session="))
        assert "secure" in cookie.lower()
        assert signed_in_as(browser) == "signed in"


def test_the_cookie_holds_a_random_id_and_the_table_only_its_digest(browser: Browser) -> None:
    browser.sign_in(ANA)
    session_id = browser.client.cookies["storyline_session"]
    engine = make_engine(browser.database_url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.sessions)).mappings().one()
    engine.dispose()
    assert row["id_hash"] == sessions.hash_id(session_id) and session_id not in str(dict(row))
    assert (row["created_at"], row["last_seen_at"], row["expires_at"]) == (T0, T0, T0 + 12 * HOUR)


def test_the_index_greets_the_signed_in_user_and_offers_to_sign_out(browser: Browser) -> None:
    assert "Sign in" in browser.client.get("/").text
    browser.sign_in(ANA)
    page = browser.client.get("/").text
    assert f"Signed in as {ANA} (admin)" in page
    assert 'action="/logout"' in page and hidden(page, "csrf_token")


def test_a_wrong_password_is_refused_logged_and_audited_without_the_password(
    browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tried = "Tr0ub4dor&3-not-it"
    answer = browser.sign_in(ANA, tried)
    assert answer.status_code == 401
    assert "Wrong e-mail address or password" in answer.text and tried not in answer.text
    assert "storyline_session" not in browser.client.cookies
    browser.sign_in("nobody@example.com", tried)
    browser.sign_in(ANA)
    failures = [r.getMessage() for r in caplog.records if r.name == "storyline.accounts.logins"]
    assert failures == [f"sign-in wrong e-mail address or password for '{who}' from testclient"
                        for who in (ANA, "nobody@example.com")]
    entries = audit_entries(browser.database_url)
    assert [(e["actor"], e["action"], e["target"]) for e in entries[-3:]] == [
        ("client:testclient", "login.failure", ANA),
        ("client:testclient", "login.failure", "nobody@example.com"),
        (f"user:{ANA}", "login.success", ANA)]
    for secret in (tried, PASSWORD):
        assert secret not in caplog.text
        assert all(secret not in str(entry) for entry in entries)


def test_the_login_form_needs_its_own_csrf_token(browser: Browser) -> None:
    browser.client.get("/login")
    forged = browser.client.post("/login", data={"email": ANA, "password": PASSWORD, "csrf_token": "forged"},
                                 follow_redirects=False)
    assert forged.status_code == 403 and "did not come from this server" in forged.text
    browser.client.cookies.clear()
    token = hidden(browser.client.get("/login").text, "csrf_token")
    browser.client.cookies.clear()  # another site's form: the token without the browser's nonce cookie
    cross_site = browser.client.post("/login", data={"email": ANA, "password": PASSWORD, "csrf_token": token},
                                     follow_redirects=False)
    assert cross_site.status_code == 403
    assert signed_in_as(browser) is None


@pytest.mark.parametrize("target", [
    "//evil.example/", "///evil.example", "/\\evil.example", "https://evil.example/", "javascript:alert(1)",
    "http:/evil.example", "evil.example", "/\tevil", " /x", "/" + "a" * 3000,
])
def test_after_signing_in_the_browser_never_goes_to_another_site(browser: Browser, target: str) -> None:
    page = browser.client.get("/login", params={"next": target}).text
    assert hidden(page, "next") == "/"
    fields = {"csrf_token": hidden(page, "csrf_token"), "next": target, "email": ANA, "password": PASSWORD}
    answer = browser.client.post("/login", data=fields, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_the_login_page_lets_its_form_post_here_only_and_keeps_the_other_protections(browser: Browser) -> None:
    page = browser.client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "form-action 'self'" in csp and "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp and "<script" not in page.text
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "form-action 'none'" in browser.client.get("/healthz").headers["content-security-policy"]


def test_what_a_login_page_shows_back_is_escaped(browser: Browser) -> None:
    answer = browser.sign_in('"><script>alert(1)</script>@x')
    assert "<script>" not in answer.text and "&lt;script&gt;" in answer.text


# -- expiry ----------------------------------------------------------------------------------------


def test_a_session_ends_after_twelve_idle_hours(browser: Browser) -> None:
    browser.sign_in(ANA)
    browser.clock.advance(12 * HOUR - 1)
    assert signed_in_as(browser) == "signed in"
    browser.clock.advance(12 * HOUR - 1)  # idle since the request above
    assert signed_in_as(browser) == "signed in"
    browser.clock.advance(12 * HOUR)
    assert signed_in_as(browser) is None


def test_a_session_ends_seven_days_after_sign_in_however_busy(browser: Browser) -> None:
    browser.sign_in(ANA)
    for _ in range(7 * 4 - 1):
        browser.clock.advance(6 * HOUR)
        assert signed_in_as(browser) == "signed in"
    browser.clock.advance(6 * HOUR)
    assert signed_in_as(browser) is None


def test_lifetimes_follow_the_settings(database_url: str) -> None:
    with browser_on(database_url, session_idle_hours=0.5, session_max_days=1 / 24) as browser:
        browser.sign_in(ANA)
        browser.clock.advance(0.5 * HOUR)
        assert signed_in_as(browser) is None


def test_the_last_request_is_written_at_most_once_a_minute(browser: Browser) -> None:
    browser.sign_in(ANA)

    def last_seen() -> float:
        engine = make_engine(browser.database_url)
        with engine.connect() as conn:
            value = conn.execute(sa.select(t.sessions.c.last_seen_at)).scalar_one()
        engine.dispose()
        return float(value)

    browser.clock.advance(30)
    signed_in_as(browser)
    assert last_seen() == T0
    browser.clock.advance(31)
    signed_in_as(browser)
    assert last_seen() == T0 + 61


def test_retention_purges_ended_sessions_and_failures_that_no_longer_count(browser: Browser) -> None:
    browser.sign_in(ANA, "wrong password here")
    browser.sign_in(ANA)
    engine = make_engine(browser.database_url)
    with engine.begin() as conn:
        retention.purge(conn, T0 + 12 * HOUR - 1)
    assert (count(browser.database_url, t.sessions), count(browser.database_url, t.login_failures)) == (1, 0)
    with engine.begin() as conn:
        retention.purge(conn, T0 + 12 * HOUR + 1)
    engine.dispose()
    assert count(browser.database_url, t.sessions) == 0


# -- signing out, and what else ends a session ------------------------------------------------------


def test_signing_out_ends_the_session_for_good(browser: Browser) -> None:
    browser.sign_in(ANA)
    stolen = browser.client.cookies["storyline_session"]
    answer = browser.client.post("/logout", data={"csrf_token": browser.csrf()}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert "storyline_session" not in browser.client.cookies
    browser.client.cookies.set("storyline_session", stolen)
    assert signed_in_as(browser) is None
    assert count(browser.database_url, t.sessions) == 0


@pytest.mark.parametrize("change", [
    lambda conn: set_password(conn, USERS["editor"], "a brand new passphrase", actor="cli:test"),
    lambda conn: remove_user(conn, USERS["editor"], actor="cli:test"),
], ids=["new password", "user removed"])
def test_a_new_password_or_removing_the_user_ends_their_sessions(browser: Browser, change) -> None:
    browser.sign_in(USERS["editor"])
    engine = make_engine(browser.database_url)
    with engine.begin() as conn:
        change(conn)
    engine.dispose()
    assert signed_in_as(browser) is None


# -- CSRF ------------------------------------------------------------------------------------------


async def whoami(request: Request) -> Response:
    return JSONResponse({"actor": request.state.principal.actor})


@pytest.fixture
def probed(browser: Browser) -> Browser:
    """The browser, with a route that needs an editor for every method (the API's writes, in small)."""
    browser.client.app.router.routes.insert(0, guarded(  # type: ignore[attr-defined]
        "/probe", whoami, rule=needs(Permission.STORIES_WRITE), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    return browser


def test_a_state_changing_request_on_the_session_needs_its_csrf_token(probed: Browser) -> None:
    probed.sign_in(ANA)
    token = probed.csrf()
    json = {"accept": "application/json"}
    assert probed.client.get("/probe", headers=json).json() == {"actor": f"user:{ANA}"}
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        refused = probed.client.request(method, "/probe", headers=json)
        assert refused.status_code == 403, method
        assert refused.json()["detail"] == {"csrf": "missing or wrong"}
        assert probed.client.request(method, "/probe", headers={**json, "x-csrf-token": ("y" if token[0] == "x" else "x") + token[1:]}
                                     ).status_code == 403
        assert probed.client.request(method, "/probe", headers={**json, "x-csrf-token": token}).status_code == 200
    as_form = probed.client.post("/probe", data={"csrf_token": token}, headers=json)
    assert as_form.status_code == 200, as_form.text


def test_a_sign_out_from_another_site_is_refused(probed: Browser) -> None:
    probed.sign_in(ANA)
    assert probed.client.post("/logout", follow_redirects=False).status_code == 403
    assert signed_in_as(probed) == "signed in"


def test_another_sessions_token_does_not_do(database_url: str) -> None:
    with browser_on(database_url) as one, browser_on(database_url, users={}) as other:
        one.sign_in(ANA)
        other.sign_in(USERS["editor"])
        assert one.client.post("/logout", data={"csrf_token": other.csrf()}, follow_redirects=False
                               ).status_code == 403


def test_a_request_with_an_api_token_needs_no_csrf_token(database_url: str) -> None:
    with api_on(database_url) as api:
        api.client.app.router.routes.insert(0, guarded(  # type: ignore[attr-defined]
            "/probe", whoami, rule=needs(Permission.STORIES_WRITE), methods=["POST"]))
        assert api.send("POST", "/probe", "editor").json() == {"actor": "token:test-editor"}


def test_a_viewers_session_is_still_a_viewer(probed: Browser) -> None:
    probed.sign_in(USERS["viewer"])
    answer = probed.client.post("/probe", headers={"accept": "application/json", "x-csrf-token": probed.csrf()})
    assert answer.status_code == 403 and answer.json()["detail"]["role_needed"] == "editor"


def test_a_browser_that_is_not_signed_in_is_sent_to_the_login_page(probed: Browser) -> None:
    answer = probed.client.get("/probe", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fprobe"


# -- throttling ------------------------------------------------------------------------------------


def earlier_failures(browser: Browser, email: str, n: int, *, client: str = "testclient") -> None:
    """``n`` failed sign-ins already counted (as many wrong passwords would, without argon2's second each)."""
    engine = make_engine(browser.database_url)
    with engine.begin() as conn:
        for _ in range(n):
            logins.failed(conn, email, client, now=browser.clock.now)
    engine.dispose()


def test_guessing_one_accounts_password_is_throttled_before_the_password_is_checked(browser: Browser) -> None:
    earlier_failures(browser, ANA, logins.ACCOUNT_LIMIT - 2, client="192.0.2.7")
    for _ in range(2):
        assert browser.sign_in(ANA, "wrong password here").status_code == 401
    refused = browser.sign_in(ANA)  # the right password, too late
    assert refused.status_code == 429 and refused.headers["retry-after"] == str(int(logins.WINDOW))
    assert "try again in 15 minutes" in refused.text
    assert browser.sign_in(USERS["editor"]).status_code == 303  # another account, same client
    browser.clock.advance(logins.WINDOW - 10)
    assert browser.sign_in(ANA).headers["retry-after"] == "10"
    browser.clock.advance(10)
    assert browser.sign_in(ANA).status_code == 303


def test_guessing_from_one_client_is_throttled_across_accounts(browser: Browser) -> None:
    for n in range(logins.CLIENT_LIMIT - 1):
        earlier_failures(browser, f"user{n}@example.com", 1)
        browser.clock.advance(1)
    assert browser.sign_in("someone@example.com", "wrong password here").status_code == 401
    refused = browser.sign_in(ANA)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == str(int(logins.WINDOW) - logins.CLIENT_LIMIT + 1)
    browser.client.headers["x-forwarded-for"] = "192.0.2.9"  # not from a trusted proxy: no other client
    assert browser.sign_in(ANA).status_code == 429


def test_a_success_forgives_the_accounts_earlier_failures(browser: Browser) -> None:
    earlier_failures(browser, ANA, logins.ACCOUNT_LIMIT - 1)
    assert browser.sign_in(ANA).status_code == 303
    browser.client.cookies.clear()
    earlier_failures(browser, ANA, logins.ACCOUNT_LIMIT - 1)
    assert browser.sign_in(ANA).status_code == 303


# -- the first admin -------------------------------------------------------------------------------


def setup_link(database_url: str, now: float = T0) -> str:
    link = setup.link("", derive(load_key(database_url), BROWSER_KEY), now=now)
    return link


def test_the_setup_link_creates_the_first_admin_once_and_signs_them_in(database_url: str) -> None:
    with browser_on(database_url, users={}) as browser:
        assert "There is no user yet" in browser.client.get("/login").text
        link = setup_link(database_url)
        page = browser.client.get(link)
        assert page.status_code == 200 and "form-action 'self'" in page.headers["content-security-policy"]
        form = {"token": hidden(page.text, "token"), "email": "Root@Example.com", "password": PASSWORD,
                "confirm": PASSWORD}
        created = browser.client.post("/setup", data=form, follow_redirects=False)
        assert created.status_code == 303 and created.headers["location"] == "/"
        assert "Signed in as root@example.com (admin)" in browser.client.get("/").text
        assert browser.client.get(link).status_code == 410
        again = browser.client.post("/setup", data={**form, "email": "mallory@example.com"}, follow_redirects=False)
        assert again.status_code == 410 and "no longer works" in again.text
        fresh = browser.client.get(setup_link(database_url, now=T0 + 10))
        assert fresh.status_code == 410
    entries = audit_entries(database_url)
    assert [(e["actor"], e["action"], e["target"], e["summary"]) for e in entries] == [
        ("setup:link", "user.add", "root@example.com", "role admin")]
    assert all(PASSWORD not in str(e) for e in entries)


def test_an_expired_setup_link_is_refused(database_url: str) -> None:
    with browser_on(database_url, users={}) as browser:
        link = setup_link(database_url, now=T0 - setup.LINK_SECONDS)
        answer = browser.client.get(link)
        assert answer.status_code == 403 and "has expired" in answer.text
        token = link.partition("token=")[2]
        posted = browser.client.post("/setup", data={"token": token, "email": "a@b", "password": PASSWORD,
                                                     "confirm": PASSWORD})
        assert posted.status_code == 403
        assert count(database_url, t.users) == 0


@pytest.mark.parametrize("token", ["", "123", "9999999999.forged", "abc.def", "9" * 40 + ".x"])
def test_a_forged_or_altered_setup_link_is_refused(database_url: str, token: str) -> None:
    with browser_on(database_url, users={}) as browser:
        genuine = setup_link(database_url).partition("token=")[2]
        expires, _, signature = genuine.partition(".")
        for presented in (token, f"{int(expires) + 3600}.{signature}"):
            answer = browser.client.get("/setup", params={"token": presented})
            assert answer.status_code == 403 and "not valid" in answer.text
        assert count(database_url, t.users) == 0


def test_the_setup_form_asks_again_for_a_short_or_mistyped_password(database_url: str) -> None:
    with browser_on(database_url, users={}) as browser:
        token = setup_link(database_url).partition("token=")[2]
        short = browser.client.post("/setup", data={"token": token, "email": "root@example.com",
                                                    "password": "short", "confirm": "short"})
        assert short.status_code == 422 and "at least 12 characters" in short.text
        mistyped = browser.client.post("/setup", data={"token": token, "email": "root@example.com",
                                                       "password": PASSWORD, "confirm": PASSWORD + "x"})
        assert mistyped.status_code == 422 and "differ" in mistyped.text
        assert PASSWORD not in mistyped.text
        assert count(database_url, t.users) == 0


def test_the_demo_admin_is_made_only_when_there_is_no_user(database_url: str) -> None:
    engine = make_engine(database_url)
    from storyline.store.db import upgrade

    upgrade(engine)
    with engine.begin() as conn:
        password = setup.demo_admin(conn)
        assert password is not None and len(password) >= 12
        assert setup.demo_admin(conn) is None
    engine.dispose()
    with browser_on(database_url, users={}) as browser:
        assert browser.sign_in(setup.DEMO_EMAIL, password).status_code == 303


def test_a_login_body_that_is_too_large_or_no_form_is_refused_plainly(browser: Browser) -> None:
    token = hidden(browser.client.get("/login").text, "csrf_token")
    huge = browser.client.post("/login", data={"csrf_token": token, "email": ANA, "password": "x" * 100_000})
    assert huge.status_code == 413
    as_json = browser.client.post("/login", json={"csrf_token": token, "email": ANA, "password": PASSWORD},
                                  follow_redirects=False)
    assert as_json.status_code == 403
    many = browser.client.post("/login", content="&".join(f"f{n}=1" for n in range(100)),
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert many.status_code == 422
    assert count(browser.database_url, t.sessions) == 0
