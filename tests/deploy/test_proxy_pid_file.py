"""A stale proxy pid file is dropped, so the hub never kills a process that is not its proxy."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from hubdist.services import proxy


@pytest.fixture
def pid_file(tmp_path):
    return tmp_path / "proxy.pid"


def _dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()  # reaped: its pid names no process (pids are not reused this soon)
    return finished.pid


def test_a_pid_of_no_process_is_forgotten(pid_file):
    pid_file.write_text(f"{_dead_pid()}\n")

    assert proxy.forget_stale_pid_file(pid_file) is True
    assert not pid_file.exists()


def test_a_pid_of_some_other_process_is_forgotten(pid_file):
    # after a container restart the old proxy's pid may well be the hub's own
    pid_file.write_text(str(os.getpid()))

    assert proxy.forget_stale_pid_file(pid_file) is True
    assert not pid_file.exists()


def test_a_running_proxy_is_left_for_jupyterhub_to_stop(pid_file):
    fake = subprocess.Popen(["bash", "-c", "exec -a configurable-http-proxy sleep 30"])
    try:
        time.sleep(0.2)  # until exec has replaced bash
        pid_file.write_text(str(fake.pid))

        assert proxy.forget_stale_pid_file(pid_file) is False
        assert pid_file.exists()
    finally:
        fake.kill()
        fake.wait()


def test_garbage_is_forgotten_and_a_missing_file_is_fine(pid_file):
    pid_file.write_text("not a pid")
    assert proxy.forget_stale_pid_file(pid_file) is True
    assert proxy.forget_stale_pid_file(pid_file) is False
