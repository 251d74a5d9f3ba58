"""Logins and CSRF tokens of the dashboard, without server-side state.

A login checks the admin token (`serve.admin_token_env`) and sets a session cookie holding
the actor, an expiry and a random nonce, signed with HMAC-SHA256 under a key derived from the
admin token: every worker process of a server accepts it, and changing the token logs
everyone out. The cookie is HttpOnly and SameSite=Strict (a page on another site cannot
send it). Every form carries a CSRF token, HMAC(key, nonce): the session's nonce once logged
in, else the nonce of a pre-login cookie (for the login form itself). Nothing here touches
the ops store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "opsloop_session"
SEED_COOKIE = "opsloop_seed"  # the pre-login nonce (the login form's CSRF token)
_NAME = re.compile(r"[^A-Za-z0-9_.@+-]")


@dataclass(frozen=True)
class Session:
    actor: str  # what the audit log records: "ui:<name>"
    nonce: str
    expires: float  # epoch seconds


def actor_name(name: str) -> str:
    """The audit log's actor for a login name: `ui:<name>` (letters, digits, `_.@+-`)."""
    clean = _NAME.sub("", name.strip())[:100]
    return f"ui:{clean or 'admin'}"


class Sessions:
    """Signs and checks session cookies and CSRF tokens for one admin token (None: nobody
    can log in)."""

    def __init__(self, admin_token: str | None, *, hours: float = 12.0) -> None:
        self.enabled = bool(admin_token)
        self._token = (admin_token or "").encode()
        self._key = hmac.new(self._token, b"opsloop-ui-session-v1", hashlib.sha256).digest()
        self.seconds = hours * 3600

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def check_token(self, given: str) -> bool:
        return self.enabled and hmac.compare_digest(given.encode(), self._token)

    def login(self, given_token: str, name: str, *, now: float | None = None) -> str | None:
        """The session cookie's value for a right token, None for a wrong one."""
        if not self.check_token(given_token):
            return None
        payload = json.dumps(
            {
                "a": actor_name(name),
                "n": secrets.token_urlsafe(16),
                "e": (time.time() if now is None else now) + self.seconds,
            }
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode()
        return f"{body}.{self._sign(payload)}"

    def read(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session a cookie holds; None when absent, forged, tampered with or expired."""
        if not self.enabled or not cookie or "." not in cookie:
            return None
        body, _, signature = cookie.rpartition(".")
        try:
            payload = base64.urlsafe_b64decode(body.encode())
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(payload)
            session = Session(str(data["a"]), str(data["n"]), float(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= (time.time() if now is None else now):
            return None
        return session

    def csrf(self, nonce: str) -> str:
        """The CSRF token for forms shown to the holder of `nonce`."""
        return self._sign(b"csrf:" + nonce.encode())

    def check_csrf(self, nonce: str | None, given: str | None) -> bool:
        return bool(self.enabled and nonce and given) and hmac.compare_digest(
            str(given), self.csrf(str(nonce))
        )


def new_seed() -> str:
    return secrets.token_urlsafe(16)
