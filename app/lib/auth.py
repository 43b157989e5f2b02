"""Staff sign-in for the leadership and payer pages. Public pages never ask for it.

Two ways in, chosen by configuration (neither is in the repository):

1. **An identity provider** (OpenID Connect) through Streamlit's native `st.login`, when
   `.streamlit/secrets.toml` has an `[auth]` section (redirect_uri, cookie_secret, client_id, client_secret,
   server_metadata_url). Roles come from the same file, by e-mail::

       [carescore_roles]
       "cmo@example.org" = ["leadership"]
       "analyst@payer.example" = ["payer"]

2. **Local fallback**: user names with salted scrypt hashes, in the TOML file named by `$CARESCORE_AUTH_FILE`
   or, if that is unset, under `[carescore_users]` in `.streamlit/secrets.toml`::

       [carescore_users.cmo]
       name = "Dr. Rivera"
       roles = ["leadership", "payer"]
       password = "scrypt$16384$8$1$<salt hex>$<hash hex>"

   Make a hash with `python app/lib/auth.py` (asks for the password, prints the line to paste).

Roles: `leadership` opens Scorecard and Equity, `payer` opens Incentives.

Local sign-in is rate-limited per account name and per client (`SignInLimiter`), and survives a reload, a bookmark
and a new tab through a signed, expiring token (`issue_token`) kept in a browser cookie. Streamlit scripts talk to
the browser over a WebSocket and cannot send a `Set-Cookie` header, so the cookie is written by a line of script
and cannot be HttpOnly; it is SameSite=Strict (Secure over https), never in the URL (no history, Referer or log
leaks), and checked on every rerun, so signing out revokes it everywhere. The signing secret is
`$CARESCORE_SESSION_SECRET`, or `session_secret` under `[carescore]` in secrets.toml, or else a random one made once
in `~/.carescore/session_secret` (mode 0600, outside the repository).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

ROLES = {"leadership": "network leadership", "payer": "payers"}
# scrypt with these costs takes ~50 ms: slow for a password-guessing attacker, fast for a person signing in.
_N, _R, _P = 2 ** 14, 8, 1


@dataclass(frozen=True)
class Staff:
    user: str
    name: str
    roles: tuple[str, ...]
    via: str  # "identity provider" | "local account"


def hash_password(password: str, salt: bytes | None = None, n: int = _N, r: int = _R, p: int = _P) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(bytes.fromhex(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def _secrets_section(name: str) -> dict:
    # st.secrets raises when no secrets.toml exists at all; for us that simply means "not configured".
    try:
        return dict(st.secrets.get(name, {}))
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return {}


def local_users() -> dict[str, dict]:
    path = os.environ.get("CARESCORE_AUTH_FILE")
    if path:
        with open(path, "rb") as fh:
            return tomllib.load(fh).get("users", {})
    return {k: dict(v) for k, v in _secrets_section("carescore_users").items()}


def identity_provider_configured() -> bool:
    return bool(_secrets_section("auth"))


@functools.cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_hex(16))


def check_local(user: str, password: str) -> Staff | None:
    entry = local_users().get(user.strip())
    # An unknown name costs the same scrypt as a known one, so the time taken does not tell which names exist.
    ok = verify_password(password, entry.get("password", "") if entry else _decoy_hash())
    if entry is None or not ok:
        return None
    return _staff(user.strip(), entry)


def _staff(user: str, entry: dict) -> Staff:
    return Staff(user, entry.get("name", user), tuple(entry.get("roles", ())), "local account")


# ------------------------------------------------------------------------------------------------
# Rate limit: guessing passwords costs time


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    lockouts: int = 0
    until: float = 0.0


class SignInLimiter:
    """Failed sign-ins per key (an account name, a client), shared by every session of the server process.

    `max_failures` failures within `window` seconds lock the key for `first_lock` seconds, doubling with each
    further lockout up to `max_lock`; a success clears its account's record. Names that are no account are
    counted the same way, so a lockout says nothing about which accounts exist."""

    def __init__(self, max_failures: int = 5, window: float = 15 * 60, first_lock: float = 60,
                 max_lock: float = 60 * 60, clock: Callable[[], float] = time.monotonic):
        self.max_failures, self.window, self.first_lock, self.max_lock = max_failures, window, first_lock, max_lock
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()  # Streamlit runs each session's script in its own thread

    def wait(self, *keys: str) -> float:
        """Seconds until every key may try again (0 when none is locked)."""
        now = self.clock()
        with self._lock:
            return max([r.until - now for k in keys if (r := self._records.get(k))] + [0.0])

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                r = self._records.setdefault(key, _Record())
                r.failures = [t for t in r.failures if now - t < self.window] + [now]
                if len(r.failures) >= self.max_failures:
                    r.until = now + min(self.first_lock * 2 ** r.lockouts, self.max_lock)
                    r.lockouts, r.failures = r.lockouts + 1, []
            if len(self._records) > 10_000:  # many made-up names: forget the ones that are quiet again
                self._records = {k: r for k, r in self._records.items()
                                 if r.until > now or any(now - t < self.window for t in r.failures)}

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)


LIMITER = SignInLimiter()
REFUSED = "That user name and password do not match an account."


def _text(value) -> str | None:
    """A value the browser sent, or None: outside a real server (AppTest) st.context holds no strings."""
    return value if isinstance(value, str) and value else None


def client_key() -> str:
    """Who is signing in, as the rate limit counts clients: the remote IP address when Streamlit knows it.

    Streamlit reports no address for a loopback peer, which is also what a reverse proxy on the same machine
    looks like: then the last X-Forwarded-For hop (the one that proxy added) is used. Without either, the
    browser session stands in (weaker, the account limit still holds)."""
    ip = _text(st.context.ip_address)
    if ip is None:
        ip = (_text(st.context.headers.get("X-Forwarded-For")) or "").split(",")[-1].strip() or None
    if ip is not None:
        return f"ip:{ip}"
    return "session:" + st.session_state.setdefault("_client_id", secrets.token_hex(8))


def sign_in_local(user: str, password: str, client: str, limiter: SignInLimiter | None = None) -> Staff | str:
    """The staff member, or the one sentence to show: the same for a wrong password and for no such account."""
    limiter = limiter or LIMITER
    keys = (f"user:{user.strip().lower()}", f"client:{client}")
    wait = limiter.wait(*keys)
    if wait > 0:
        return (f"Too many sign-in attempts. Please wait {max(1, round(wait / 60))} minute(s) and try again, "
                "or ask your administrator.")
    staff = check_local(user, password)
    if staff is None:
        limiter.failed(*keys)
        return REFUSED
    limiter.succeeded(keys[0])
    return staff


# ------------------------------------------------------------------------------------------------
# Staying signed in: a signed token in a cookie

COOKIE = "carescore_session"
TOKEN_HOURS = 12  # a working day; then sign in again
_revoked: dict[str, float] = {}  # token id → its expiry; kept until then
_revoked_lock = threading.Lock()


def _secret() -> bytes:
    configured = os.environ.get("CARESCORE_SESSION_SECRET") or _secrets_section("carescore").get("session_secret")
    if configured:
        return str(configured).encode()
    path = Path.home() / ".carescore" / "session_secret"
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:  # O_EXCL: two sessions starting at once agree on one secret
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        except FileExistsError:
            pass
    return path.read_text().strip().encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(payload: str) -> str:
    return _b64(hmac.new(_secret(), payload.encode(), hashlib.sha256).digest())


def _password_mark(entry: dict) -> str:
    """Ties a token to the account's current password hash: changing the password ends every old token."""
    return _sign(entry.get("password", ""))[:16]


def issue_token(user: str, now: float | None = None) -> str:
    entry = local_users()[user]
    payload = _b64(json.dumps({"u": user, "exp": int((now or time.time()) + TOKEN_HOURS * 3600),
                               "id": secrets.token_hex(8), "pw": _password_mark(entry)}).encode())
    return f"{payload}.{_sign(payload)}"


def _claims(token: str) -> dict | None:
    payload, _, sig = token.partition(".")
    if not hmac.compare_digest(_sign(payload).encode(), sig.encode()):  # bytes: a cookie may hold any text
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None


def staff_from_token(token: str, now: float | None = None) -> Staff | None:
    """The staff member a token signs in, read from the accounts file now (removed accounts and changed roles
    take effect at once), or None for a forged, expired, revoked or outdated token."""
    claims = _claims(token)
    if claims is None or claims.get("exp", 0) <= (now or time.time()):
        return None
    with _revoked_lock:
        if claims.get("id") in _revoked:
            return None
    entry = local_users().get(claims.get("u", ""))
    if entry is None or not hmac.compare_digest(_password_mark(entry), str(claims.get("pw", ""))):
        return None
    return _staff(claims["u"], entry)


def revoke(token: str) -> None:
    if (claims := _claims(token)) is not None:
        now = time.time()
        with _revoked_lock:
            _revoked[claims["id"]] = claims["exp"]
            for k in [k for k, exp in _revoked.items() if exp <= now]:
                del _revoked[k]


def remember(staff: Staff) -> None:
    """Sign a local staff member in for this session and, through the cookie, for later visits."""
    st.session_state["staff"] = staff
    st.session_state["token"] = issue_token(staff.user)


def sync_cookie() -> None:
    """Write (or clear) the browser's cookie when this session's token differs from it. Called once per rerun."""
    written = st.session_state.setdefault("_cookie", _text(st.context.cookies.get(COOKIE)))
    token = st.session_state.get("token")
    if token == written:
        return
    secure = "+(location.protocol==='https:'?';Secure':'')"
    value = json.dumps(f"{COOKIE}={token};Max-Age={TOKEN_HOURS * 3600}" if token else f"{COOKIE}=;Max-Age=0")
    st.html(f"<script>document.cookie={value}+';Path=/;SameSite=Strict'{secure};</script>",
            unsafe_allow_javascript=True)
    st.session_state["_cookie"] = token


def current_staff() -> Staff | None:
    token = st.session_state.get("token") or _text(st.context.cookies.get(COOKIE))
    if token:
        staff = staff_from_token(token)
        if staff is not None:
            st.session_state["staff"], st.session_state["token"] = staff, token
            return staff
        st.session_state.pop("staff", None)  # expired, or signed out in another tab
        st.session_state.pop("token", None)
    staff = st.session_state.get("staff")
    if staff is not None:
        return staff
    if identity_provider_configured() and st.user.is_logged_in:
        email = str(st.user.get("email", ""))
        roles = tuple(_secrets_section("carescore_roles").get(email, ()))
        return Staff(email, str(st.user.get("name", email)), roles, "identity provider")
    return None


def sign_out() -> None:
    was_idp = (staff := current_staff()) is not None and staff.via == "identity provider"
    if token := st.session_state.pop("token", None):
        revoke(token)
    st.session_state.pop("staff", None)
    if was_idp:
        st.logout()


def require(role: str) -> Staff:
    """The signed-in staff member with `role`, or a page that says how to get access and shows nothing else."""
    staff = current_staff()
    if staff is not None and role in staff.roles:
        return staff
    if staff is None:
        st.warning(f"**This page is for {ROLES[role]}.** Please sign in with your staff account to see it.")
    else:
        st.warning(f"**{staff.name}, your account does not include access for {ROLES[role]}.**")
    st.markdown("To get access, ask the carescore administrator of your organization to add you "
                f"with the role `{role}`. Patients and families can use the public pages, which need no sign-in.")
    st.page_link("pages_/sign_in.py", label="Go to staff sign-in", icon=":material/login:")
    st.stop()


if __name__ == "__main__":
    import getpass

    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise SystemExit("The passwords differ; nothing was printed.")
    print(f'password = "{hash_password(first)}"')
