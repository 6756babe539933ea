"""The names users write in their configs keep working after the package's reshaping."""

from __future__ import annotations

import os
import runpy
import sys
import types

from traitlets.utils.importstring import import_item

from hubdist.services import culler


def test_spawner_and_authenticator_names_in_configs_resolve():
    for name in ("hubdist.DockerSpawner", "hubdist.SwarmSpawner", "hubdist.SystemUserSpawner"):
        assert import_item(name).__name__ == name.rsplit(".", 1)[1]
    assert import_item("hubdist.github.GitHubAuthenticator").__name__ == "GitHubAuthenticator"


def test_python_m_hubdist_culler_runs_the_culler(monkeypatch):
    """The command older hub configs hold: `python -m hubdist.culler --timeout=...`."""
    ran = []
    fake = types.ModuleType("jupyterhub_idle_culler")
    fake.main = lambda: ran.append(sys.argv[1:])
    monkeypatch.setitem(sys.modules, "jupyterhub_idle_culler", fake)
    monkeypatch.setattr(sys, "argv", ["hubdist.culler", "--timeout=60"])
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://hub:8081/hub/api")

    runpy.run_module("hubdist.culler", run_name="__main__")

    assert ran == [["--timeout=60"]]
    assert culler.loopback_url("http://hub:8081/hub/api") == "http://127.0.0.1:8081/hub/api"
    assert os.environ["JUPYTERHUB_API_URL"] == "http://127.0.0.1:8081/hub/api"
