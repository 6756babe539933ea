"""The proxy runs unprivileged: its token is handed to its user alone, and its API listens
where it is told, by address or by a name (compose: its alias on the hub-only network).

The container itself (non-root, no capabilities, read-only root file system, the API on a
network users are not on) is tested in the compose deployment:
tests/e2e/test_compose_isolation.py.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from hubdist.services import proxy

NOBODY = "nobody"  # stands in for hubdist-proxy, which exists only in the hub image


@pytest.fixture
def shared():
    """A folder every user can reach, as a volume is, with a token made by root."""
    top = Path(tempfile.mkdtemp(prefix="hubdist-test-proxy-"))
    top.chmod(0o755)
    folder = top / "shared"
    folder.mkdir(mode=0o755)
    token = folder / "proxy_auth_token"
    token.write_text("0123abcd\n")
    token.chmod(0o600)
    yield token
    shutil.rmtree(top)


def read_as(uid: int, path: Path) -> str:
    done = subprocess.run(["cat", str(path)], user=uid, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else done.stderr


def test_the_token_made_by_root_becomes_the_proxy_users_alone(shared):
    assert os.geteuid() == 0, "run as root, as the hub runs `hubdist start`"
    nobody = pwd.getpwnam(NOBODY).pw_uid
    assert "Permission denied" in read_as(nobody, shared)  # the upgrade case: root's file

    assert proxy.hand_over_token(shared, NOBODY) is True

    assert read_as(nobody, shared) == "0123abcd"
    other = nobody - 1  # any other unprivileged user
    assert "Permission denied" in read_as(other, shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.parent.stat().st_mode) == 0o700
    assert proxy.hand_over_token(shared, NOBODY) is False  # nothing left to change


def test_without_the_proxy_user_nothing_is_changed(shared):
    assert proxy.hand_over_token(shared, "no-such-user-hubdist") is False
    assert shared.stat().st_uid == os.geteuid()


def test_the_api_address_may_be_a_name_resolved_where_the_proxy_runs():
    assert proxy.api_address("10.213.0.3") == "10.213.0.3"
    assert proxy.api_address("localhost") == "127.0.0.1"
    with pytest.raises(ValueError, match="HUBDIST_PROXY_API_IP"):
        proxy.api_address("no-such-host.invalid")
