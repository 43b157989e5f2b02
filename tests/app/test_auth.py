"""Local sign-in: the rate limit (with a clock the test moves) and the signed token that keeps staff signed in."""

import os
import stat

import pytest
from app_fixtures import PASSWORD, write_auth_file
from test_pages import no_errors, open_page, sign_in, texts

from lib import auth
from lib.auth import SignInLimiter


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def accounts(tmp_path, monkeypatch):
    path = write_auth_file(tmp_path / "users.toml")
    monkeypatch.setenv("CARESCORE_AUTH_FILE", str(path))
    monkeypatch.setenv("CARESCORE_SESSION_SECRET", "a secret for tests only")
    return path


@pytest.fixture
def fresh_limiter(monkeypatch):
    """The app's limiter starts empty, so lockouts in one test never reach another."""
    limiter = SignInLimiter()
    monkeypatch.setattr(auth, "LIMITER", limiter)
    return limiter


# ---- rate limit


def test_five_failures_lock_the_key_for_a_growing_time():
    clock = Clock()
    limiter = SignInLimiter(clock=clock)
    for _ in range(4):
        limiter.failed("user:cmo")
    assert limiter.wait("user:cmo") == 0
    limiter.failed("user:cmo")
    assert limiter.wait("user:cmo") == 60
    clock.now += 61
    assert limiter.wait("user:cmo") == 0
    for _ in range(5):
        limiter.failed("user:cmo")
    assert limiter.wait("user:cmo") == 120  # the second lockout is longer
    assert limiter.wait("user:payer") == 0  # other accounts are not affected


def test_failures_older_than_the_window_are_forgotten_and_success_clears_the_account():
    clock = Clock()
    limiter = SignInLimiter(clock=clock)
    for _ in range(4):
        limiter.failed("user:cmo")
    clock.now += 15 * 60
    limiter.failed("user:cmo")
    assert limiter.wait("user:cmo") == 0
    for _ in range(3):
        limiter.failed("user:cmo")
    limiter.succeeded("user:cmo")
    limiter.failed("user:cmo")
    assert limiter.wait("user:cmo") == 0


def test_one_client_trying_many_names_is_locked(accounts):
    limiter = SignInLimiter(clock=Clock())
    for i in range(5):
        assert auth.sign_in_local(f"name{i}", "guess", "ip:203.0.113.9", limiter) == auth.REFUSED
    assert "Too many sign-in attempts" in auth.sign_in_local("cmo", PASSWORD, "ip:203.0.113.9", limiter)
    assert isinstance(auth.sign_in_local("cmo", PASSWORD, "ip:198.51.100.1", limiter), auth.Staff)


def test_the_answers_do_not_tell_whether_an_account_exists(accounts):
    limiter = SignInLimiter(clock=Clock())
    real = [auth.sign_in_local("cmo", "guess", f"ip:10.0.0.{i}", limiter) for i in range(7)]
    made_up = [auth.sign_in_local("nobody", "guess", f"ip:10.0.1.{i}", limiter) for i in range(7)]
    assert real == made_up
    assert real[0] == auth.REFUSED and "Too many" in real[-1]
    # while locked, even the right password is refused: guessing cannot go on
    assert "Too many" in auth.sign_in_local("cmo", PASSWORD, "ip:10.0.2.1", limiter)


def test_thirty_wrong_passwords_on_the_sign_in_page_meet_a_lockout(app, fresh_limiter):
    sign_in(app, "intern", "wrong")
    assert app.error[0].value == auth.REFUSED
    for _ in range(29):
        app.text_input[1].input("wrong")
        app.button[-1].click().run()
    assert "Too many sign-in attempts" in app.error[0].value
    app.text_input[1].input(PASSWORD)
    app.button[-1].click().run()
    assert "Too many sign-in attempts" in app.error[0].value and "Sam Intern" not in texts(app)


# ---- staying signed in


def test_a_token_signs_in_until_it_expires_is_revoked_or_the_password_changes(accounts):
    token = auth.issue_token("cmo", now=0 + 10**9)
    assert auth.staff_from_token(token, now=10**9 + 60).name == "Dr. Rivera"
    assert auth.staff_from_token(token, now=10**9 + auth.TOKEN_HOURS * 3600) is None  # expired
    payload, _, sig = token.partition(".")
    assert auth.staff_from_token(payload[:-2] + "xx." + sig, now=10**9) is None  # tampered
    os.environ["CARESCORE_SESSION_SECRET"] = "another secret"
    assert auth.staff_from_token(token, now=10**9) is None  # signed with another server's secret
    os.environ["CARESCORE_SESSION_SECRET"] = "a secret for tests only"

    for junk in ("", "abc", "é.é", "a.b.c", "..."):
        assert auth.staff_from_token(junk) is None

    live = auth.issue_token("cmo")
    assert auth.staff_from_token(live) is not None
    auth.revoke(live)
    assert auth.staff_from_token(live) is None  # signed out

    other = auth.issue_token("payer")
    accounts.write_text(accounts.read_text().replace('name = "Pat Analyst"', 'name = "Pat Analyst"\nroles2 = 1', 1))
    assert auth.staff_from_token(other) is not None  # an unrelated edit keeps it
    text = accounts.read_text()
    start = text.index("[users.payer]")
    accounts.write_text(text[:start] + text[start:].replace("scrypt$", "scrypt$x", 1))
    assert auth.staff_from_token(other) is None  # a new password ends old tokens


def test_without_a_configured_secret_one_is_made_once_outside_the_repo(accounts, tmp_path, monkeypatch):
    monkeypatch.delenv("CARESCORE_SESSION_SECRET")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    token = auth.issue_token("cmo")
    path = tmp_path / "home" / ".carescore" / "session_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_text()) == 64
    assert auth.staff_from_token(token) is not None  # the same secret next time


def test_after_sign_in_staff_land_on_the_page_they_asked_for(app):
    open_page(app, "scorecard")
    assert "Please sign in" in texts(app)
    sign_in(app, "cmo")
    no_errors(app)
    assert app.title[0].value == "Scorecard" and app.dataframe


def test_sign_out_ends_the_token(app):
    sign_in(app, "cmo")
    token = app.session_state["token"]
    assert auth.staff_from_token(token) is not None
    app.button(key="sign_out").click().run()
    assert auth.staff_from_token(token) is None
    open_page(app, "scorecard")
    assert "Please sign in" in texts(app)
