"""Fixtures of the deploy tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

from hubdist.services import proxy

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def load(tmp_path, monkeypatch):
    """Load the default config with its data and override folders in tmp_path."""
    data, overrides = tmp_path / "data", tmp_path / "config.d"
    data.mkdir()
    monkeypatch.setenv("HUBDIST_DATA_DIR", str(data))
    monkeypatch.setenv("HUBDIST_OVERRIDE_DIR", str(overrides))
    for name in (
        "SINGLEUSER_IMAGE", "NETWORK", "PREFIX", "ADMIN_USERS", "CULL_TIMEOUT", "SPAWNER",
        "METRICS_TOKEN", "SQLITE_JOURNAL",
    ):  # fmt: skip
        monkeypatch.delenv(f"HUBDIST_{name}", raising=False)
    # the real guard would look at this machine's /tmp
    pid_files = []
    monkeypatch.setattr(proxy, "forget_stale_pid_file", pid_files.append)

    def load(**overrides_py: str):
        if overrides_py:
            overrides.mkdir(exist_ok=True)
        for name, text in overrides_py.items():
            (overrides / name).write_text(text)
        c = PyFileConfigLoader("jupyterhub_config.py", path=str(CONFIG_DIR)).load_config()
        assert pid_files == [c.ConfigurableHTTPProxy.pid_file]
        pid_files.clear()
        return c

    load.data = data
    return load
