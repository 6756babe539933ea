"""Which schema revision a hub database is at, and which one this JupyterHub runs.

Read from JupyterHub's alembic scripts, without importing its ORM: ``hubdist start``
asks at every start of the hub, before JupyterHub itself is loaded, and the ORM (with
the HTTP client it brings) would add 0.3 s to each.
"""

from __future__ import annotations

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


def schema_head() -> str:
    """The newest schema revision of the installed JupyterHub."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(alembic_dir())).get_current_head()
