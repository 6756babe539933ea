"""Internal SSL: the certificates JupyterHub makes for a server, packed for its container.

With ``JupyterHub.internal_ssl`` the hub writes each server's key, certificate and trust
bundle to its own disk and calls ``Spawner.move_certs`` before ``start``. dockerspawner
copies them into a volume through a helper container (a busybox pull, about six Docker
calls); hubdist copies them straight into the server's own container between its creation
and its start (one call), so no volume outlives the server and nothing is pulled. A Swarm
service gets them as Docker secrets (encrypted in the swarm, in memory on the node), made
for each start and removed with the service.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from pathlib import Path

CERTS_DIR = "/certs"  # where dockerspawner puts them: images and configs may expect it
SECRETS_DIR = "/run/secrets"  # where Swarm mounts a service's secrets


def paths_in(folder: str, paths: dict[str, str]) -> dict[str, str]:
    """The same files as the server sees them: <folder>/<file name>."""
    return {key: f"{folder}/{Path(path).name}" for key, path in paths.items()}


def archive(paths: dict[str, str]) -> bytes:
    """A tar of the files in a CERTS_DIR folder, for put_archive at "/".

    Readable by every user in the container (0644): the server runs as the image's user,
    whoever that is, and the container holds only this server's own key.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo(CERTS_DIR.lstrip("/"))
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
        tar.addfile(folder)
        for path in sorted(set(paths.values())):
            data = Path(path).read_bytes()
            member = tarfile.TarInfo(f"{folder.name}/{Path(path).name}")
            member.size, member.mode, member.mtime = len(data), 0o644, int(time.time())
            tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def secrets(paths: dict[str, str], owner: str) -> list[tuple[str, str, bytes]]:
    """(secret name, file name, content) for each file: names unique to the content and
    to ``owner`` (the service), and within Swarm's 64 characters."""
    made = []
    for path in sorted(set(paths.values())):
        data = Path(path).read_bytes()
        digest = hashlib.sha256(owner.encode() + b"\0" + data).hexdigest()[:40]
        made.append((f"hubdist-ssl-{digest}", Path(path).name, data))
    return made
