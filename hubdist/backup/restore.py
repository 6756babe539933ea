"""``hubdist restore``: bring a hub back from a ``hubdist backup`` archive.

Run before the hub starts, on the new deployment's volumes, e.g.
``docker compose run --rm --no-deps -T hub hubdist restore - < hubdist-backup.tar.gz``
(with ``--profile postgres`` and without ``--no-deps`` when the hub uses the postgres
service, which must be running to receive the rows).

Nothing is overwritten unless asked: a database that holds a hub's data, or a secret or
configuration file that differs from the archive's, stops the restore before it writes
anything, naming each. ``--replace`` keeps each replaced file as NAME.before-restore.
The database goes to whatever the hub is set to use now: an archive from a SQLite hub
restores into PostgreSQL and the other way round.
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

from jupyterhub import dbutil

from ..database import journal, migrate, reach, settings, snapshot
from ..engine import Engine
from ..services import proxy, secrets
from . import archive
from .make import SECRETS, summary

KEPT_SUFFIX = ".before-restore"


class RestoreError(Exception):
    """The restore cannot go on; the message says why and what to do."""


def planned_files(
    tar: tarfile.TarFile, environ: Mapping[str, str], config_dir: Path | None
) -> dict[Path, bytes]:
    """The content of every file the archive puts back, by path. A secret the old hub was
    given (secrets/) wins over a file it had kept of the same name (data/): it is the one
    that hub used."""
    data, shared = secrets.data_dir(environ), secrets.shared_dir(environ)
    plan = {data / name: content for name, content in archive.members(tar, archive.DATA).items()}
    plan |= {shared / n: c for n, c in archive.members(tar, archive.SHARED).items()}
    stores = {spec.filename: data for spec in SECRETS} | {secrets.PROXY_TOKEN.filename: shared}
    for name, content in archive.members(tar, archive.GIVEN).items():
        if name in stores:  # here it is kept like a generated one
            plan[stores[name] / name] = content + b"\n"
    if config_dir is not None:
        plan |= {config_dir / n: c for n, c in archive.members(tar, archive.CONFIG).items()}
    return plan


def differing(plan: dict[Path, bytes]) -> dict[Path, bytes]:
    """The files of ``plan`` not already there as the archive has them."""
    return {
        path: content for path, content in plan.items()
        if not (path.exists() and path.read_bytes().strip() == content.strip())
    }  # fmt: skip


def _keep(path: Path) -> None:
    if path.exists():
        path.replace(path.with_name(path.name + KEPT_SUFFIX))


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)


def restore(tar: tarfile.TarFile, environ: Mapping[str, str], config_dir: Path | None,
            replace: bool, report) -> archive.Manifest:  # fmt: skip
    manifest = archive.Manifest.from_json(archive.read_file(tar, archive.MANIFEST))
    choice = settings.configured(environ)
    target = settings.db_url(choice, secrets.data_dir(environ))
    sqlite_file = secrets.data_dir(environ) / settings.SQLITE_FILE
    if sqlite_file.exists():  # a log a killed hub left would be replayed onto the new file
        journal.settle(sqlite_file)
    to_write = differing(planned_files(tar, environ, config_dir))
    problems = [str(path) for path in to_write if path.exists()]
    on_sqlite = choice == "sqlite" and sqlite_file.exists()
    if on_sqlite and snapshot.row_counts(sqlite_file).get("users"):
        problems.insert(0, f"{sqlite_file} (a hub's database, with users)")
    if problems and not replace:
        raise RestoreError(
            "these differ from the archive and would be replaced: "
            + ", ".join(problems)
            + f"; restore into a new deployment, or pass --replace (each is kept as "
            f"NAME{KEPT_SUFFIX})"
        )
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / archive.DATABASE
        copy.write_bytes(archive.read_file(tar, archive.DATABASE))
        if snapshot.revision(copy) != migrate.schema_head():  # as the hub's start would
            dbutil.upgrade(f"sqlite:///{copy}")
        if choice == "sqlite":
            if replace:
                _keep(sqlite_file)
            _write(sqlite_file, copy.read_bytes())
        else:
            try:
                migrate.copy(f"sqlite:///{copy}", reach.hub_database(environ))
            except migrate.MigrationError as exc:
                raise RestoreError(str(exc)) from None
        report(f"database {reach.shown(target)}: {summary(snapshot.row_counts(copy))}")
    for path, content in to_write.items():
        if replace:
            _keep(path)
        _write(path, content)
        report(f"wrote {path}")
    token = secrets.shared_dir(environ) / secrets.PROXY_TOKEN.filename
    if secrets.shared_dir(environ) != secrets.data_dir(environ):
        proxy.hand_over_token(token)  # the proxy, unprivileged, must read it
    if config_dir is None:
        layers = ", ".join(archive.members(tar, archive.CONFIG)) or "none"
        report(f"configuration layers in the archive: {layers}; put them back on the host "
               "with: tar -xzf ARCHIVE config.d/  (next to docker-compose.yml)")  # fmt: skip
    if manifest.volumes:
        make_volumes(manifest.volumes, report)
    return manifest


def make_volumes(volumes: dict[str, dict[str, str]], report) -> None:
    """Create the users' volumes, empty, with the labels they had (which make them this
    deployment's, so its servers use them); the admin fills them from their own archives."""
    engine = Engine(call_timeout=30)

    async def make() -> None:
        for name, labels in volumes.items():
            if await engine.inspect_volume(name):
                report(f"users' volume {name} exists: left as it is")
                continue
            await engine.create_volume(name, labels)
            report(f"users' volume {name} created, empty: fill it as docs/operations.md says")

    try:
        asyncio.run(make())
    except Exception as exc:  # no engine here: the admin's commands create them unlabelled
        report(f"users' volumes not created (cannot ask the Docker engine: {exc}); "
               f"restore them as docs/operations.md says: {' '.join(volumes)}")  # fmt: skip


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubdist restore",
        description="Put a hubdist backup's database, secrets (and, with --config-dir, "
        "configuration) back, before the hub starts. Nothing is replaced unless --replace.",
    )
    parser.add_argument("archive", help="the archive, or - for standard input")
    parser.add_argument(
        "--config-dir", type=Path,
        help="write the configuration layers here (default: not written; they are listed)",
    )  # fmt: skip
    parser.add_argument(
        "--replace", action="store_true",
        help=f"replace what differs, keeping each replaced file as NAME{KEPT_SUFFIX}",
    )  # fmt: skip
    return parser


def main(argv: list[str]) -> int:
    args = make_parser().parse_args(argv)

    def report(line: str) -> None:
        print(f"hubdist restore: {line}", file=sys.stderr, flush=True)

    try:
        if args.archive == "-":
            source = io.BytesIO(sys.stdin.buffer.read())
            tar = tarfile.open(fileobj=source, mode="r:gz")
        else:
            tar = tarfile.open(args.archive, mode="r:gz")
    except (OSError, tarfile.TarError) as exc:
        report(f"cannot read the archive {args.archive}: {exc}")
        return 1
    with tar:
        try:
            manifest = restore(tar, os.environ, args.config_dir, args.replace, report)
        except (RestoreError, secrets.SecretError, ValueError) as exc:
            report(str(exc))
            return 1
    report(f"done: the state of hubdist {manifest.hubdist}'s hub of {manifest.created}; "
           "start the hub")  # fmt: skip
    return 0
