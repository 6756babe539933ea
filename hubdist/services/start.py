"""``hubdist start``: the hub container's entry point.

It exists so that the secrets are settled before JupyterHub runs: JupyterHub would make a
new cookie secret if the file were missing, but knows nothing of ``*_FILE`` variables
(Docker secrets), and the proxy, in another container, must use the very token the hub
uses. So: resolve the secrets (hubdist.secrets), say where each came from (never its
value), put them in the environment and replace this process with JupyterHub, so that
tini's signals reach JupyterHub directly and nothing stays behind holding the secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from sqlalchemy.engine import URL

from ..cli import find_override_dir
from ..config import layers
from ..database import preupgrade, reach
from ..database import settings as database
from ..doctor.deployment import configured_db_url
from ..engine import Engine
from ..spawners import ownership
from ..tls import status as tls_status
from . import proxy, secrets

DEFAULT_CONFIG = "/etc/hubdist/jupyterhub_config.py"
HUB_COMMAND = "hubdist-hub"  # setup.cfg's console script for hubdist.services.hub


def prepare(environ: MutableMapping[str, str]) -> list[secrets.Resolved]:
    """Resolve the hub's secrets (PostgreSQL's password too, if it is the database) and
    export them into ``environ``."""
    stores = {
        secrets.COOKIE_SECRET: secrets.data_dir(environ),
        secrets.PROXY_TOKEN: secrets.shared_dir(environ),
        secrets.CRYPT_KEY: secrets.data_dir(environ),
        secrets.DOCTOR_TOKEN: secrets.data_dir(environ),
    }
    resolved = [secrets.resolve(spec, environ, store) for spec, store in stores.items()]
    db_password = database.password(environ, database.configured(environ))
    if db_password:
        resolved.append(db_password)
    for item in resolved:
        secrets.export(item, environ)
    return resolved


def check_database(environ: Mapping[str, str], resolved: list[secrets.Resolved]) -> None:
    """Wait for a PostgreSQL database to answer, or say what is wrong (reach.DatabaseError)."""
    choice = database.configured(environ)
    if choice == "sqlite":
        return
    password = next((item for item in resolved if item.spec is database.PASSWORD), None)
    print(f"hubdist start: waiting for the database ({database.SETTING})", file=sys.stderr)
    if password:
        reach.wait_reachable(choice, password.value, password.source)
    else:
        reach.wait_reachable(choice, None)


def protect_database(environ: Mapping[str, str], config_file: Path | None = None) -> None:
    """Snapshot the database into the data folder if JupyterHub is about to upgrade its
    schema (hubdist.database.preupgrade): JupyterHub copies only SQLite files itself."""

    def say(line: str) -> None:
        print(f"hubdist start: {line}", file=sys.stderr, flush=True)

    preupgrade.protect(database_to_open(environ, config_file), secrets.data_dir(environ), say)


def database_to_open(environ: Mapping[str, str], config_file: Path | None) -> str | URL:
    """The database JupyterHub will open: HUBDIST_DATABASE's, with PostgreSQL's password,
    unless a configuration layer of ``config_file`` (config.d) sets another db_url, which
    then gets the password from the environment (PGPASSWORD, which libpq reads)."""
    chosen = database.db_url(database.configured(environ), secrets.data_dir(environ))
    # reading the layers costs seconds of imports: only when one of them names db_url
    if config_file and any(
        "db_url" in layer.read_text(errors="replace")
        for layer in layers.override_files(find_override_dir(config_file))
    ):
        configured = configured_db_url(config_file)
        if configured and configured != chosen:
            return configured
    return reach.hub_database(environ)


def claim_prefix(environ: Mapping[str, str]) -> str:
    """Why this deployment may not use its prefix on the engine (another deployment does);
    "" if it may, or if the engine cannot be asked now (the first spawn asks again)."""
    prefix, deployment = environ.get("HUBDIST_PREFIX"), environ.get("HUBDIST_DEPLOYMENT")
    if not prefix or not deployment:
        return ""
    try:
        return asyncio.run(ownership.claim(Engine(call_timeout=10), prefix, deployment))
    except Exception as exc:  # no engine here (yet): not ours to refuse on
        print(f"hubdist start: could not check the prefix {prefix!r} ({exc})", file=sys.stderr)
        return ""


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubdist start",
        description="Settle the hub's secrets, then run JupyterHub with hubdist's config.",
        epilog="Arguments after the options go to jupyterhub, e.g. hubdist start --debug.",
    )
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help="JupyterHub config file (default: %(default)s)",
    )
    return parser


def main(argv: list[str]) -> int:
    args, jupyterhub_args = make_parser().parse_known_args(argv)
    try:
        resolved = prepare(os.environ)
    except (secrets.SecretError, ValueError) as exc:  # ValueError: a bad HUBDIST_DATABASE
        print(f"hubdist start: {exc}", file=sys.stderr, flush=True)
        return 1
    for item in resolved:
        print(f"hubdist start: {item.spec.label} from {item.source}", file=sys.stderr)
    try:
        check_database(os.environ, resolved)
    except reach.DatabaseError as exc:
        print(f"hubdist start: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        protect_database(os.environ, Path(args.config))
    except Exception as exc:  # no upgrade without its backup: JupyterHub must not start
        print(
            f"hubdist start: could not back up the database before the upgrade of its schema "
            f"({type(exc).__name__}: {exc}). The hub is not started, so the database is "
            "unchanged: fix the cause (such as a full disk under the data volume), then start "
            "it again",
            file=sys.stderr,
            flush=True,
        )
        return 1
    conflict = claim_prefix(os.environ)
    if conflict:
        print(f"hubdist start: {conflict}", file=sys.stderr, flush=True)
        return 1
    # the proxy's own folder (compose), never the data folder it defaults to
    shared = secrets.shared_dir(os.environ)
    token_file = shared / secrets.PROXY_TOKEN.filename
    if shared != secrets.data_dir(os.environ) and proxy.hand_over_token(token_file):
        print(f"hubdist start: {token_file} is now {proxy.PROXY_USER}'s alone", file=sys.stderr)
    for line in tls_status.for_hub(os.environ)[1]:
        print(f"hubdist start: {line}", file=sys.stderr)
    # JupyterHub's application with one start-up query added (hubdist.services.hub)
    command = [HUB_COMMAND, "-f", args.config, *jupyterhub_args]
    print(f"hubdist start: exec {' '.join(command)}", file=sys.stderr, flush=True)
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        print(f"hubdist start: {HUB_COMMAND!r} is not on PATH", file=sys.stderr)
        return 127
