"""``hubdist backup``: write the running hub's state into one archive.

Run where the hub runs: ``docker compose exec -T hub hubdist backup > hubdist-backup.tar.gz``
(or, on a stack, ``docker exec`` into the hub's task). The hub keeps serving meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

import jupyterhub

from .. import __version__
from ..database import reach, settings, snapshot
from ..engine import Engine
from ..services import secrets
from ..spawners import ownership
from . import archive

#: the secrets a hub may be given instead of generating them; saved either way
SECRETS = (secrets.COOKIE_SECRET, secrets.CRYPT_KEY, secrets.PROXY_TOKEN, secrets.DOCTOR_TOKEN)


class BackupError(Exception):
    """The backup cannot be made; the message says why and what to do."""


def override_dir(environ: Mapping[str, str]) -> Path:
    from ..cli import find_config_file, find_override_dir

    if environ.get("HUBDIST_OVERRIDE_DIR"):
        return Path(environ["HUBDIST_OVERRIDE_DIR"])
    return find_override_dir(find_config_file())


def state_files(folder: Path, skip: set[str]) -> dict[str, bytes]:
    """The regular files directly in ``folder`` (not hidden drafts, not ``skip``)."""
    if not folder.is_dir():
        return {}
    return {
        item.name: item.read_bytes()
        for item in sorted(folder.iterdir())
        if item.is_file() and not item.is_symlink()
        and not item.name.startswith(".") and item.name not in skip
    }  # fmt: skip


def users_volumes(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The users' volumes of this deployment, with their labels: labelled as its own, or
    named with its prefix (volumes of older releases, which carry no labels)."""
    deployment, prefix = environ.get("HUBDIST_DEPLOYMENT"), environ.get("HUBDIST_PREFIX")
    found = asyncio.run(Engine(call_timeout=30).list_volumes())
    kept = {}
    for volume in found:
        labels = volume.get("Labels") or {}
        if ownership.CLAIM in labels:
            continue  # the deployment's claim on its prefix, made again at every start
        ours = deployment and labels.get(ownership.DEPLOYMENT) == deployment
        legacy = prefix and not labels and volume["Name"].startswith(f"{prefix}-")
        if ours or legacy:
            kept[volume["Name"]] = labels
    return dict(sorted(kept.items()))


def write(environ: Mapping[str, str], out, report) -> archive.Manifest:
    """Write the archive to the binary file ``out``; ``report`` gets lines for the admin."""
    data, shared = secrets.data_dir(environ), secrets.shared_dir(environ)
    url = reach.hub_database(environ)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / archive.DATABASE
        try:
            rows = snapshot.take(url, copy)
        except snapshot.SnapshotError as exc:
            raise BackupError(str(exc)) from None
        manifest = archive.Manifest(
            hubdist=__version__,
            jupyterhub=jupyterhub.__version__,
            database=reach.shown(url),
            revision=snapshot.revision(copy),
            rows=rows,
        )
        try:
            manifest.volumes = users_volumes(environ)
        except Exception as exc:  # no engine here: the archive is still worth having
            report(f"users' volumes not listed (cannot ask the Docker engine: {exc})")
        database_files = {settings.SQLITE_FILE} | {
            f"{settings.SQLITE_FILE}{suffix}" for suffix in ("-journal", "-wal", "-shm")
        }
        folders = {archive.DATA: state_files(data, database_files)}
        if shared != data:
            folders[archive.SHARED] = state_files(shared, set())
        folders[archive.GIVEN] = {
            spec.filename: given[0].encode()
            for spec in SECRETS
            if (given := secrets.from_environment(environ, spec.variable))
        }
        folders[archive.CONFIG] = state_files(override_dir(environ), set())
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            archive.add_bytes(tar, archive.MANIFEST, manifest.to_json())
            listed = "".join(f"{name}\n" for name in manifest.volumes)
            archive.add_bytes(tar, archive.VOLUMES, listed.encode(), mode=0o644)
            tar.add(copy, arcname=archive.DATABASE)
            for folder, files in folders.items():
                archive.add_folder(tar, folder)  # there even if empty: `tar -x config.d/`
                for name, content in files.items():
                    archive.add_bytes(tar, f"{folder}/{name}", content)
    report(f"database {manifest.database}: {summary(rows)} (schema {manifest.revision})")
    for folder, files in folders.items():
        report(f"{folder}/: {', '.join(files) or 'nothing'}")
    report(f"users' volumes ({len(manifest.volumes)}), to save as docs/operations.md says: "
           + (" ".join(manifest.volumes) or "none"))  # fmt: skip
    return manifest


def summary(rows: dict[str, int]) -> str:
    shown = ("users", "api_tokens", "groups", "roles", "servers", "spawners")
    return ", ".join(f"{rows.get(table, 0)} {table}" for table in shown)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubdist backup",
        description="Write the hub's database (copied while it runs), secrets and "
        "configuration into one .tar.gz; it lists the users' volumes, saved separately "
        "(docs/operations.md). The archive holds secrets: keep it as safe as the hub.",
    )
    parser.add_argument(
        "--output", "-o", default="-",
        help="the archive to write, a new file (default: standard output, e.g. "
        "docker compose exec -T hub hubdist backup > hubdist-backup.tar.gz)",
    )  # fmt: skip
    return parser


def main(argv: list[str]) -> int:
    args = make_parser().parse_args(argv)

    def report(line: str) -> None:
        print(f"hubdist backup: {line}", file=sys.stderr, flush=True)

    if args.output == "-" and sys.stdout.isatty():
        report("the archive goes to standard output: redirect it into a file (> FILE) or use -o")
        return 2
    buffer = io.BytesIO()  # written out only once complete: a failure leaves no half archive
    try:
        write(os.environ, buffer, report)
    except (BackupError, secrets.SecretError, ValueError) as exc:
        report(str(exc))
        return 1
    if args.output == "-":
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
    else:
        try:
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            report(f"{args.output} exists; name a new file")
            return 1
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
    report(f"written to {'standard output' if args.output == '-' else args.output}")
    return 0
