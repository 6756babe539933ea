"""The hub's secrets: generated once and kept private, or given as *_FILE; never printed.

hubdist.services.secrets decides, ``hubdist start`` applies the decision and execs JupyterHub
(``hubdist-hub``). The last tests run ``hubdist start`` for real with a stand-in
``hubdist-hub`` on PATH that records what it was given.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hubdist.services import secrets, start

REPO = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _stored(path: Path) -> str:
    return path.read_text().strip()


def _private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def test_a_missing_secret_is_generated_once_private_and_then_kept(tmp_path):
    first = secrets.resolve(secrets.PROXY_TOKEN, {}, tmp_path)

    stored = tmp_path / "proxy_auth_token"
    assert first.value == _stored(stored) and len(first.value) == 64
    assert _mode(stored) == 0o600
    assert first.source == f"{stored} (generated now)"

    again = secrets.resolve(secrets.PROXY_TOKEN, {}, tmp_path)
    assert again.value == first.value
    assert again.source == f"{stored} (kept)"
    assert [p.name for p in tmp_path.iterdir()] == ["proxy_auth_token"]  # no drafts left


def test_the_hub_and_the_proxy_starting_together_get_the_same_token(tmp_path):
    # both containers find no token and race to make it
    racer = (
        "import sys; from pathlib import Path; from hubdist.services import secrets;"
        "print(secrets.resolve(secrets.PROXY_TOKEN, {}, Path(sys.argv[1])).value)"
    )
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", racer, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    tokens = {racer.communicate(timeout=30)[0].strip() for racer in racers}

    assert tokens == {_stored(tmp_path / "proxy_auth_token")}


def test_the_variable_wins_and_a_file_variable_names_a_docker_secret(tmp_path):
    given = secrets.resolve(secrets.CRYPT_KEY, {"JUPYTERHUB_CRYPT_KEY": "k" * 64}, tmp_path)
    assert (given.value, given.source) == ("k" * 64, "environment variable JUPYTERHUB_CRYPT_KEY")

    secret = _private_file(tmp_path / "crypt", "f" * 64, mode=0o400)
    from_file = secrets.resolve(
        secrets.CRYPT_KEY, {"JUPYTERHUB_CRYPT_KEY_FILE": str(secret)}, tmp_path
    )
    assert from_file.value == "f" * 64
    assert from_file.source == f"{secret} (JUPYTERHUB_CRYPT_KEY_FILE)"
    assert not (tmp_path / "jupyterhub_crypt_key").exists()  # nothing generated


def test_export_hands_over_the_variable_only(tmp_path):
    secret = _private_file(tmp_path / "cookie", "ab" * 32)
    environ = {"JPY_COOKIE_SECRET_FILE": str(secret)}

    secrets.export(secrets.resolve(secrets.COOKIE_SECRET, environ, tmp_path), environ)

    assert environ == {"JPY_COOKIE_SECRET": "ab" * 32}


@pytest.mark.parametrize("mode", [0o644, 0o444, 0o604])
def test_a_secret_file_everyone_can_read_is_refused_with_the_fix(tmp_path, mode):
    secret = _private_file(tmp_path / "token", "s3cr3t-value", mode=mode)

    with pytest.raises(secrets.SecretError) as refused:
        secrets.resolve(secrets.PROXY_TOKEN, {"CONFIGPROXY_AUTH_TOKEN_FILE": str(secret)}, tmp_path)

    message = str(refused.value)
    assert f"chmod 600 {secret}" in message and f"{mode:04o}" in message
    assert "s3cr3t-value" not in message


def test_a_kept_secret_that_became_readable_by_everyone_is_refused(tmp_path):
    secrets.resolve(secrets.COOKIE_SECRET, {}, tmp_path)
    stored = tmp_path / "jupyterhub_cookie_secret"
    stored.chmod(0o644)

    with pytest.raises(secrets.SecretError, match=f"chmod 600 {stored}"):
        secrets.resolve(secrets.COOKIE_SECRET, {}, tmp_path)


def test_a_group_readable_docker_secret_is_accepted(tmp_path):
    # stack files may give a secret mode 0440 and a group
    secret = _private_file(tmp_path / "token", "t0ken", mode=0o440)

    resolved = secrets.resolve(
        secrets.PROXY_TOKEN, {"CONFIGPROXY_AUTH_TOKEN_FILE": str(secret)}, tmp_path
    )

    assert resolved.value == "t0ken"


@pytest.mark.parametrize(
    "environ, complaint",
    [
        (
            {"CONFIGPROXY_AUTH_TOKEN": "a", "CONFIGPROXY_AUTH_TOKEN_FILE": "/x"},
            "set only one of them",
        ),
        ({"CONFIGPROXY_AUTH_TOKEN_FILE": "/nonexistent/token"}, "/nonexistent/token"),
    ],
)
def test_ambiguous_or_missing_secrets_are_errors(tmp_path, environ, complaint):
    with pytest.raises(secrets.SecretError, match=complaint):
        secrets.resolve(secrets.PROXY_TOKEN, environ, tmp_path)


def test_empty_secret_files_and_non_hex_cookie_secrets_are_refused_without_the_value(tmp_path):
    empty = _private_file(tmp_path / "empty", "")
    with pytest.raises(secrets.SecretError, match="is empty"):
        secrets.resolve(secrets.PROXY_TOKEN, {"CONFIGPROXY_AUTH_TOKEN_FILE": str(empty)}, tmp_path)

    with pytest.raises(secrets.SecretError, match="openssl rand -hex 32") as refused:
        secrets.resolve(secrets.COOKIE_SECRET, {"JPY_COOKIE_SECRET": "not-hex-secret"}, tmp_path)
    assert "not-hex-secret" not in str(refused.value)


def test_the_repr_of_a_secret_leaves_its_value_out(tmp_path):
    resolved = secrets.resolve(secrets.PROXY_TOKEN, {}, tmp_path)

    assert resolved.value not in repr(resolved)


def test_the_proxy_token_is_kept_in_the_shared_folder_and_the_rest_with_the_data(tmp_path):
    data, shared = tmp_path / "data", tmp_path / "shared"
    environ = {"HUBDIST_DATA_DIR": str(data), "HUBDIST_SHARED_DIR": str(shared)}

    start.prepare(environ)

    assert sorted(p.name for p in data.iterdir()) == [
        "doctor_api_token",
        "jupyterhub_cookie_secret",
        "jupyterhub_crypt_key",
    ]
    assert [p.name for p in shared.iterdir()] == ["proxy_auth_token"]
    assert environ["CONFIGPROXY_AUTH_TOKEN"] == _stored(shared / "proxy_auth_token")
    # one container, no folder of its own for the proxy: everything with the data
    assert secrets.shared_dir({"HUBDIST_DATA_DIR": str(data)}) == data


# -- hubdist start, run for real --------------------------------------------------------------

FAKE_JUPYTERHUB = """#!{python}
import json, os, sys
names = ["JPY_COOKIE_SECRET", "CONFIGPROXY_AUTH_TOKEN", "JUPYTERHUB_CRYPT_KEY",
         "JPY_COOKIE_SECRET_FILE", "GITHUB_CLIENT_SECRET_FILE"]
env = {{n: os.environ.get(n) for n in names}}
with open(os.environ["RECORD"], "w") as f:
    json.dump({{"argv": sys.argv[1:], "pid": os.getpid(), "env": env}}, f)
"""


@pytest.fixture
def run_start(tmp_path):
    """Run `hubdist start ARGS` with a stand-in hub command; its record, or None if not run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / start.HUB_COMMAND
    fake.write_text(FAKE_JUPYTERHUB.format(python=sys.executable))
    fake.chmod(0o755)
    record = tmp_path / "record.json"

    def run(*args: str, **env: str):
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("HUBDIST_", "JPY_"))}
        environ.update(
            PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            PYTHONPATH=str(REPO),
            RECORD=str(record),
            HUBDIST_DATA_DIR=str(tmp_path / "data"),
            HUBDIST_SHARED_DIR=str(tmp_path / "shared"),
            **env,
        )
        for name in ("CONFIGPROXY_AUTH_TOKEN", "JUPYTERHUB_CRYPT_KEY"):
            environ.pop(name, None)
        process = subprocess.Popen(
            [sys.executable, "-m", "hubdist", "start", *args],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output = process.communicate(timeout=60)[0]
        result = json.loads(record.read_text()) if record.exists() else None
        record.unlink(missing_ok=True)
        return process, output, result

    run.data, run.shared = tmp_path / "data", tmp_path / "shared"
    return run


def test_start_settles_the_secrets_then_becomes_jupyterhub(run_start):
    process, output, ran = run_start("--debug")

    assert process.returncode == 0, output
    assert ran["pid"] == process.pid  # exec'd: JupyterHub gets tini's signals directly
    assert ran["argv"] == ["-f", start.DEFAULT_CONFIG, "--debug"]
    env = ran["env"]
    assert env["JPY_COOKIE_SECRET"] == _stored(run_start.data / "jupyterhub_cookie_secret")
    assert env["JUPYTERHUB_CRYPT_KEY"] == _stored(run_start.data / "jupyterhub_crypt_key")
    assert env["CONFIGPROXY_AUTH_TOKEN"] == _stored(run_start.shared / "proxy_auth_token")
    for path in (*run_start.data.iterdir(), *run_start.shared.iterdir()):
        assert _mode(path) == 0o600, path
    # where each came from is logged, what it is never is
    assert "cookie secret from" in output and "(generated now)" in output
    for value in env.values():
        assert value is None or value not in output

    # a restart keeps them all
    _, output, again = run_start()
    assert {k: again["env"][k] for k in env} == env
    assert "(generated now)" not in output and output.count("(kept)") == 4


def test_start_reads_docker_secrets_and_leaves_the_github_one_alone(run_start, tmp_path):
    cookie = _private_file(tmp_path / "cookie", "cd" * 32, mode=0o400)
    token = _private_file(tmp_path / "token", "proxy-token-from-a-docker-secret", mode=0o400)
    github = _private_file(tmp_path / "github", "gh-secret", mode=0o400)

    process, output, ran = run_start(
        JPY_COOKIE_SECRET_FILE=str(cookie),
        CONFIGPROXY_AUTH_TOKEN_FILE=str(token),
        GITHUB_CLIENT_SECRET_FILE=str(github),
    )

    assert process.returncode == 0, output
    assert ran["env"]["JPY_COOKIE_SECRET"] == "cd" * 32
    assert ran["env"]["CONFIGPROXY_AUTH_TOKEN"] == "proxy-token-from-a-docker-secret"
    assert ran["env"]["JPY_COOKIE_SECRET_FILE"] is None
    assert ran["env"]["GITHUB_CLIENT_SECRET_FILE"] == str(github)  # hubdist.auth.github reads it
    assert not run_start.shared.exists()  # given, so nothing generated
    assert "cd" * 32 not in output and "proxy-token-from-a-docker-secret" not in output


def test_start_refuses_a_world_readable_secret_and_does_not_start_the_hub(run_start, tmp_path):
    token = _private_file(tmp_path / "token", "readable-by-all", mode=0o644)

    process, output, ran = run_start(CONFIGPROXY_AUTH_TOKEN_FILE=str(token))

    assert process.returncode == 1
    assert ran is None
    assert f"chmod 600 {token}" in output
    assert "readable-by-all" not in output
