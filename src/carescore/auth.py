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

   Make a hash with `python -m carescore.auth` (asks for the password, prints the line to paste).

Roles: `leadership` opens Scorecard and Equity, `payer` opens Incentives.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tomllib
from dataclasses import dataclass

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


def check_local(user: str, password: str) -> Staff | None:
    entry = local_users().get(user.strip())
    if entry is None or not verify_password(password, entry.get("password", "")):
        return None
    return Staff(user.strip(), entry.get("name", user), tuple(entry.get("roles", ())), "local account")


def current_staff() -> Staff | None:
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
