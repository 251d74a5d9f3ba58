"""Dashboard sessions and CSRF tokens: signed, expiring, bound to the admin token."""

from __future__ import annotations

from opsloop.ui.auth import Sessions, actor_name


def test_a_login_needs_the_admin_token_and_names_the_actor() -> None:
    s = Sessions("t0ken")
    assert s.login("wrong", "alice") is None
    cookie = s.login("t0ken", "alice <script>")
    assert cookie is not None
    session = s.read(cookie)
    assert session is not None and session.actor == "ui:alicescript"
    assert actor_name("") == "ui:admin"


def test_forged_tampered_expired_or_foreign_cookies_are_no_session() -> None:
    s = Sessions("t0ken", hours=1)
    cookie = s.login("t0ken", "alice", now=1000.0)
    assert cookie is not None
    assert s.read(cookie, now=1000.0 + 3599) is not None
    assert s.read(cookie, now=1000.0 + 3601) is None  # expired
    body, _, sig = cookie.rpartition(".")
    assert s.read(body + "." + "0" * len(sig), now=1001) is None  # forged signature
    assert s.read("x" + cookie, now=1001) is None  # tampered payload
    assert Sessions("another").read(cookie, now=1001) is None  # the token changed
    assert Sessions(None).read(cookie, now=1001) is None  # nobody can log in
    assert Sessions(None).login("", "alice") is None


def test_csrf_tokens_are_bound_to_the_nonce() -> None:
    s = Sessions("t0ken")
    token = s.csrf("n1")
    assert s.check_csrf("n1", token)
    assert not s.check_csrf("n2", token)
    assert not s.check_csrf("n1", None)
    assert not s.check_csrf(None, token)
    assert not Sessions("other").check_csrf("n1", token)
