"""The names users write in their configs keep working after the package's reshaping."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import types
from pathlib import Path

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


def test_spawners_resolve_by_every_path_users_and_entry_points_take():
    """hubdist.spawners loads each spawner when first named: the entry points' modules,
    `from hubdist.spawners import ...` and the package attribute name the same classes."""
    import hubdist.spawners
    from hubdist.spawners import DockerSpawner, SwarmSpawner, SystemUserSpawner

    assert hubdist.spawners.DockerSpawner is DockerSpawner
    assert import_item("hubdist.spawners.docker.DockerSpawner") is DockerSpawner
    assert import_item("hubdist.spawners.swarm.SwarmSpawner") is SwarmSpawner
    assert import_item("hubdist.spawners.systemuser.SystemUserSpawner") is SystemUserSpawner
    assert sorted(hubdist.spawners.__all__) == sorted(
        ["DockerSpawner", "SwarmSpawner", "SystemUserSpawner"]
    )


def test_the_hubs_entry_point_loads_no_jupyterhub_orm_before_jupyterhub_runs():
    """`hubdist start` runs before JupyterHub at every start of the hub, and JupyterHub then
    imports everything again in its own process: importing it loads none of JupyterHub's
    ORM, spawner or alembic (0.4 s of a start). The ORM comes only when a database must be
    copied; alembic's scripts when the revisions are read."""
    probe = (
        "import sys, hubdist.services.start\n"
        "print(sorted(m for m in ('jupyterhub.orm', 'jupyterhub.spawner', 'alembic')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_schema_revisions_are_read_from_jupyterhubs_own_alembic_scripts():
    from jupyterhub import dbutil

    from hubdist.database import schema

    assert schema.alembic_dir() == Path(dbutil.ALEMBIC_DIR)
    assert schema.schema_head()  # the newest revision of those scripts


def test_the_newest_revision_saved_at_build_is_believed_only_while_it_still_holds(tmp_path):
    """The hub image saves JupyterHub's newest schema revision at build (reading alembic's
    scripts costs ~0.3 CPU-s of every hub start); one saved from another JupyterHub or other
    scripts, or a damaged file, is not believed: the scripts are read again."""
    import json

    from hubdist.database import schema

    saved = tmp_path / "jupyterhub-schema-head.json"
    head = schema.save_head(saved)
    assert head == schema.schema_head(tmp_path / "absent.json")
    probe = (
        "import sys\nfrom pathlib import Path\nfrom hubdist.database import schema\n"
        f"print(schema.schema_head(Path({str(saved)!r})), 'alembic.script' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.split() == [head, "False"], done.stdout + done.stderr

    found = json.loads(saved.read_text())
    for changed in ({"jupyterhub": "0.0.1"}, {"scripts": found["from"]["scripts"][:-1]}):
        stale = {"head": "not-the-newest", "from": {**found["from"], **changed}}
        saved.write_text(json.dumps(stale))
        assert schema.schema_head(saved) == head, changed
    saved.write_text("{damaged")
    assert schema.schema_head(saved) == head
