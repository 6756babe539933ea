"""/hub/metrics in the default config: never open, readable with HUBDIST_METRICS_TOKEN."""

from __future__ import annotations

import pytest

from hubdist.config.recording import ConfigError
from hubdist.metrics import METRICS_SCOPE, SCRAPER


def test_metrics_need_a_token_and_none_is_made_unless_asked(load):
    c = load()

    assert c.JupyterHub.authenticate_prometheus is True
    assert SCRAPER not in [s["name"] for s in c.JupyterHub.services]


def test_the_metrics_token_gets_a_service_with_only_the_metrics_scope(load, monkeypatch):
    monkeypatch.setenv("HUBDIST_METRICS_TOKEN", "a" * 32)
    c = load()

    scraper = next(s for s in c.JupyterHub.services if s["name"] == SCRAPER)
    assert scraper == {"name": SCRAPER, "api_token": "a" * 32}
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == SCRAPER)
    assert role["scopes"] == [METRICS_SCOPE] and role["services"] == [SCRAPER]
    # the culler keeps its own service and role beside it
    assert "idle-culler" in [s["name"] for s in c.JupyterHub.services]


def test_a_metrics_token_jupyterhub_would_refuse_stops_the_hub_naming_it(load, monkeypatch):
    monkeypatch.setenv("HUBDIST_METRICS_TOKEN", "short")
    with pytest.raises(ConfigError) as refused:
        load()

    message = str(refused.value)
    assert "HUBDIST_METRICS_TOKEN" in message and "openssl rand -hex 32" in message
    assert "short" not in message  # a secret, even a bad one, is never echoed


def test_the_metrics_token_may_come_from_a_docker_secret_file(load, monkeypatch, tmp_path):
    secret = tmp_path / "metrics-token"
    secret.write_text("b" * 32 + "\n")
    secret.chmod(0o600)
    monkeypatch.setenv("HUBDIST_METRICS_TOKEN_FILE", str(secret))
    c = load()

    scraper = next(s for s in c.JupyterHub.services if s["name"] == SCRAPER)
    assert scraper["api_token"] == "b" * 32


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("world-readable", "every user"),
        ("missing", "does not exist"),
        ("both", "set only one"),
    ],
)
def test_a_bad_metrics_token_file_stops_the_hub_saying_why(
    load, monkeypatch, tmp_path, problem, expected
):
    secret = tmp_path / "metrics-token"
    if problem != "missing":
        secret.write_text("c" * 32)
        secret.chmod(0o644 if problem == "world-readable" else 0o600)
    monkeypatch.setenv("HUBDIST_METRICS_TOKEN_FILE", str(secret))
    if problem == "both":
        monkeypatch.setenv("HUBDIST_METRICS_TOKEN", "d" * 32)
    with pytest.raises(ConfigError) as refused:
        load()

    message = str(refused.value)
    assert "HUBDIST_METRICS_TOKEN" in message and expected in message, message
    assert "c" * 32 not in message and "d" * 32 not in message
