"""The dashboard's session cookie: sealed, bound to the server secret, expiring; CSRF tokens."""

from __future__ import annotations

from meetbot.control.dashboard.session import SESSION_TTL, SessionSealer, same_token

SECRET = b"dashboard unit secret of 32 byte"


def test_a_sealed_session_opens_and_hides_the_key_hash() -> None:
    sealer = SessionSealer(SECRET)
    session, cookie = sealer.new("a" * 64, now=1000.0)
    assert "a" * 16 not in cookie
    assert sealer.open(cookie, now=1001.0) == session
    assert len(session.csrf) >= 32


def test_altered_foreign_expired_or_junk_cookies_do_not_open() -> None:
    sealer = SessionSealer(SECRET)
    _, cookie = sealer.new("h", now=1000.0)
    flipped = cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]
    assert sealer.open(flipped, now=1000.0) is None
    assert SessionSealer(b"another secret of thirty-two byt").open(cookie, now=1000.0) is None
    assert sealer.open(cookie, now=1000.0 + SESSION_TTL.total_seconds()) is None
    assert sealer.open(cookie, now=999.0) is None  # issued in the future
    for junk in (None, "", "!!", "x" * 5000, "AAAA"):
        assert sealer.open(junk) is None


def test_each_session_has_its_own_csrf_token() -> None:
    sealer = SessionSealer(SECRET)
    one, _ = sealer.new("h")
    two, _ = sealer.new("h")
    assert one.csrf != two.csrf
    assert same_token(one.csrf, one.csrf)
    assert not same_token(one.csrf, two.csrf)
    assert not same_token(one.csrf, None)
    assert not same_token("", "")
    assert "key hidden" in repr(sealer)
