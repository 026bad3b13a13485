"""The pure checks of api/security.py (the probes of tests/security drive them end to end)."""

import pytest

from api.security import is_loopback, safe_next, split_authority, token_matches
from api.settings import Settings


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("desk.lan", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("authority", "scheme", "parts"),
    [
        ("127.0.0.1:8000", "http", ("127.0.0.1", "8000")),
        ("LocalHost", "http", ("localhost", "80")),
        ("desk.lan", "https", ("desk.lan", "443")),
        ("[::1]:8000", "http", ("::1", "8000")),
        ("[::1]", "http", ("::1", "80")),
    ],
)
def test_split_authority(authority, scheme, parts):
    assert split_authority(authority, scheme) == parts


@pytest.mark.parametrize(
    ("path", "safe"),
    [
        ("/", "/"),
        ("/docs?x=1", "/docs?x=1"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("docs", "/"),
    ],
)
def test_safe_next_stays_on_this_server(path, safe):
    assert safe_next(path) == safe


def test_token_matches_only_the_whole_token():
    token = "x" * 32
    assert token_matches(token, token)
    assert not token_matches(token[:-1], token)
    assert not token_matches(token + "y", token)
    assert not token_matches("é" * 32, token)  # non-ASCII input compares, never raises


def test_allowed_hosts_read_comma_separated_from_the_environment(monkeypatch):
    monkeypatch.setenv("THETADESK_ALLOWED_HOSTS", "desk.lan, 192.168.1.20,")
    assert Settings(_env_file=None).allowed_hosts == ["desk.lan", "192.168.1.20"]
