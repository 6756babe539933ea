"""What a backup archive holds, and where.

    manifest.json        what was saved, from which hub (version, schema revision, rows,
                         the users' volumes with their labels)
    database.sqlite      the database (hubdist.database.snapshot), whatever the hub ran on
    data/NAME            the data folder's files: generated secrets, the trial password
    shared/NAME          the folder the hub shares with the proxy: the proxy token
    secrets/VARIABLE     secrets the hub was given (variables, Docker secrets)
    config.d/NAME        the configuration layers (the override folder)
    volumes.txt          the users' volumes' names, one a line, for the commands that save
                         and restore them (docs/operations.md)

The archive holds secrets: whoever has it can log in as any user. It is written 0600 when
it is a file, and docs/operations.md says how to keep it.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

MANIFEST = "manifest.json"
VOLUMES = "volumes.txt"
DATABASE = "database.sqlite"
DATA, SHARED, GIVEN, CONFIG = "data", "shared", "secrets", "config.d"
FORMAT = 1


@dataclass
class Manifest:
    hubdist: str
    jupyterhub: str
    database: str  # the hub's database, as shown (no password)
    revision: str  # its JupyterHub schema revision
    rows: dict[str, int]
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)  # name: labels
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, text: bytes) -> Manifest:
        found = json.loads(text)
        if found.get("format") != FORMAT:
            raise ValueError(
                f"archive format {found.get('format')!r}, this hubdist reads {FORMAT}: "
                "restore it with the hubdist version that made it, named in its manifest.json"
            )
        return cls(**found)


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o600) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def add_folder(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(time.time())
    tar.addfile(info)


def members(tar: tarfile.TarFile, folder: str) -> dict[str, bytes]:
    """The files directly in ``folder`` of the archive, by name (nothing else: a name with
    a path in it, a link or a device is never written anywhere by a restore)."""
    found = {}
    for member in tar.getmembers():
        path = PurePosixPath(member.name)
        if (
            member.isfile()
            and path.parent == PurePosixPath(folder)
            and path.name not in ("", ".", "..")
        ):
            found[path.name] = tar.extractfile(member).read()
    return found


def read_file(tar: tarfile.TarFile, name: str) -> bytes:
    try:
        return tar.extractfile(tar.getmember(name)).read()
    except KeyError:
        raise ValueError(f"the archive has no {name}: is it a hubdist backup?") from None
