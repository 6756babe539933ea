"""Which schema revision a hub database is at, and which one this JupyterHub runs.

Read from JupyterHub's alembic scripts, without importing its ORM: ``hubdist start``
asks at every start of the hub, before JupyterHub itself is loaded, and the ORM (with
the HTTP client it brings) would add 0.3 s to each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import Column, MetaData, String, Table

#: alembic's table of the revision a database is at
VERSION_TABLE = Table(
    "alembic_version", MetaData(), Column("version_num", String(32), primary_key=True)
)


def alembic_dir() -> Path:
    """JupyterHub's alembic scripts (jupyterhub.dbutil.ALEMBIC_DIR, found without
    importing dbutil, which imports the ORM)."""
    import jupyterhub  # its __init__ is only the version

    return Path(jupyterhub.__file__).parent / "alembic"


#: JupyterHub's newest revision as the hub image's build found it (``python -m
#: hubdist.database.schema``), with what it was found from: reading alembic's scripts
#: costs ~0.3 CPU-s, at every start of the hub. Absent outside the image: read each time.
HEAD_FILE = Path(sys.prefix) / "share" / "hubdist" / "jupyterhub-schema-head.json"


def _scripts() -> dict:
    """What the newest revision follows from: JupyterHub's version and its scripts' names."""
    import jupyterhub

    names = sorted(p.name for p in (alembic_dir() / "versions").glob("*.py"))
    return {"jupyterhub": jupyterhub.__version__, "scripts": names}


def _read_head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(alembic_dir())).get_current_head()


def schema_head(saved: Path = HEAD_FILE) -> str:
    """The newest schema revision of the installed JupyterHub: the saved one if it was found
    from the same JupyterHub and scripts, else read from the scripts."""
    try:
        found = json.loads(saved.read_text())
        if found["from"] == _scripts():
            return found["head"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return _read_head()


def save_head(saved: Path = HEAD_FILE) -> str:
    """Read the newest revision and save it, with what it was found from, for schema_head."""
    head = _read_head()
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"head": head, "from": _scripts()}, indent=1) + "\n")
    return head


if __name__ == "__main__":  # the hub image's build
    print(f"JupyterHub's newest schema revision {save_head()}, saved in {HEAD_FILE}")
