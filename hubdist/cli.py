"""The ``hubdist`` command line."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from hubdist import __version__

DEFAULT_IMAGE = "singleuser"


def find_images_dir() -> Path:
    """The folder holding one build context per image (images/NAME/Dockerfile).

    Looked for in $HUBDIST_IMAGES_DIR, next to the package (a source checkout or
    editable install), then in the current directory.
    """
    candidates = []
    if os.environ.get("HUBDIST_IMAGES_DIR"):
        candidates.append(Path(os.environ["HUBDIST_IMAGES_DIR"]))
    package_dir = Path(__file__).resolve().parent
    candidates += [package_dir / "images", package_dir.parent / "images", Path.cwd() / "images"]
    for candidate in candidates:
        if (candidate / DEFAULT_IMAGE / "Dockerfile").is_file():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise SystemExit(
        f"hubdist: no images folder found (searched {searched}); set HUBDIST_IMAGES_DIR"
    )


def source_revision(path: Path) -> str:
    """The git commit ``path`` is checked out at, with "-dirty" if it has local changes;
    "" outside a git checkout (an installed package, the hub image)."""
    if shutil.which("git") is None:
        return ""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, check=False
        )

    head = git("rev-parse", "--verify", "-q", "HEAD")
    if head.returncode != 0:
        return ""
    dirty = git("status", "--porcelain", "--", ".").stdout.strip()
    return head.stdout.strip() + ("-dirty" if dirty else "")


def build_image(args: argparse.Namespace) -> int:
    if shutil.which("docker") is None:
        print(
            "hubdist: 'docker' not found; install Docker (Debian: apt-get install -y docker.io)",
            file=sys.stderr,
        )
        return 1
    context = find_images_dir() / args.image
    if not (context / "Dockerfile").is_file():
        print(f"hubdist: no Dockerfile in {context}", file=sys.stderr)
        return 1
    tag = args.tag or f"hubdist/{args.image}:latest"
    cmd = ["docker", "build"]
    if args.base_image:
        cmd += ["--build-arg", f"BASE_IMAGE={args.base_image}"]
    revision = source_revision(context)
    if revision:  # the image's org.opencontainers.image.revision label
        cmd += ["--build-arg", f"HUBDIST_REVISION={revision}"]
    if args.quiet:
        cmd.append("--quiet")
    cmd += ["-t", tag, str(context)]
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd).returncode


IMAGE_CONFIG_FILE = Path("/etc/hubdist/jupyterhub_config.py")


def find_config_file() -> Path:
    """The hub image's configuration file, else the one of the source checkout."""
    package_dir = Path(__file__).resolve().parent
    candidates = [IMAGE_CONFIG_FILE, package_dir.parent / "config" / IMAGE_CONFIG_FILE.name]
    candidates.append(Path.cwd() / "config" / IMAGE_CONFIG_FILE.name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise SystemExit(f"hubdist: no configuration file (searched {searched}); use --config-file")


def find_override_dir(config_file: Path) -> Path:
    """$HUBDIST_OVERRIDE_DIR, else config.d next to the file (image) or its folder (checkout)."""
    if os.environ.get("HUBDIST_OVERRIDE_DIR"):
        return Path(os.environ["HUBDIST_OVERRIDE_DIR"])
    candidates = [config_file.parent / "config.d", config_file.parent.parent / "config.d"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def _read_config(args: argparse.Namespace):
    """The layers as the hub would read them (a hubdist.config.recording.Recorder);
    ``args`` gets the paths used."""
    from hubdist.config import inspect

    args.config_file = Path(args.config_file) if args.config_file else find_config_file()
    if not args.override_dir:
        args.override_dir = find_override_dir(args.config_file)
    return inspect.read(args.config_file, Path(args.override_dir))


def _layers(args: argparse.Namespace) -> str:
    return f"{args.config_file} < environment < {args.override_dir}"


def config_show(args: argparse.Namespace) -> int:
    from hubdist.config import inspect
    from hubdist.tls import status

    recorder = _read_config(args)
    found = inspect.entries(recorder, tuple(args.names))
    problems = [str(problem) for problem in recorder.problems]
    https, https_lines = status.for_hub(os.environ)
    if args.json:
        print(json.dumps({"values": found, "problems": problems, "https": https}, indent=2))
    else:
        print(f"# layers, later ones win: {_layers(args)}")
        for line in https_lines:
            print(f"# {line}")
        for entry in found:
            print(f"c.{entry['name']} = {entry['value']}  # {entry['where']}")
        for problem in problems:
            print(f"hubdist: problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def config_check(args: argparse.Namespace) -> int:
    recorder = _read_config(args)
    if recorder.problems:
        print(f"{len(recorder.problems)} problem(s); the hub would not start:")
        for problem in recorder.problems:
            print(f"  {problem}")
        return 1
    print(f"configuration OK: {_layers(args)}")
    return 0


def _add_config_commands(commands: argparse._SubParsersAction) -> None:
    config = commands.add_parser(
        "config", help="show or check the hub's configuration and where each value comes from"
    )
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="each value set, with the file and line or variable")
    show.add_argument("names", nargs="*", metavar="NAME", help="only Class or Class.option")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=config_show)
    check = actions.add_parser(
        "check", help="exit 1, listing them, on unknown classes or options and wrong types"
    )
    check.set_defaults(func=config_check)
    for action in (show, check):
        action.add_argument(
            "--config-file",
            help=f"default: {IMAGE_CONFIG_FILE} in the hub image, else config/ of the checkout",
        )
        action.add_argument(
            "--override-dir",
            help="default: $HUBDIST_OVERRIDE_DIR, else config.d next to the file or its folder",
        )


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hubdist", description="hubdist: JupyterHub for Docker")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # Listed here for --help only; main() hands their arguments to their own modules.
    commands.add_parser(
        "base-image", help="make a local Debian base image with debootstrap (air-gapped sites)"
    )
    commands.add_parser(
        "start", help="the hub container's entry point: secrets, then JupyterHub (hubdist-hub)"
    )
    commands.add_parser("proxy", help="run configurable-http-proxy, restarting it if it dies")
    commands.add_parser(
        "edge", help="serve the hub over HTTPS in front of the proxy (Caddy; docs/https.md)"
    )
    commands.add_parser(
        "prepull", help="keep the single-user image pulled on every swarm node (a global service)"
    )
    commands.add_parser(
        "netguard",
        help="isolate users' servers on the network with iptables rules (needs NET_ADMIN)",
    )
    commands.add_parser(
        "doctor", help="check the deployment (engine, network, netguard, images, routes, ...)"
    )

    commands.add_parser(
        "backup", help="write the hub's database, secrets and configuration into an archive"
    )
    commands.add_parser("restore", help="put a backup archive back, before the hub starts")
    db = commands.add_parser("db", help="the hub's database")
    db_actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_actions.add_parser("migrate", help="copy the hub's SQLite database into PostgreSQL")

    images = commands.add_parser("images", help="build the hubdist container images")
    images_commands = images.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    build = images_commands.add_parser("build", help="docker build an image from images/NAME")
    build.add_argument(
        "image", nargs="?", default=DEFAULT_IMAGE, help="image folder name (default %(default)s)"
    )
    build.add_argument("--base-image", help="BASE_IMAGE build argument (default: the Dockerfile's)")
    build.add_argument("--tag", help="image tag (default hubdist/IMAGE:latest)")
    build.add_argument("--quiet", action="store_true", help="print only the image id")
    build.set_defaults(func=build_image)
    _add_config_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "base-image":
        from hubdist.services import baseimage

        return baseimage.main(argv[1:])
    if argv and argv[0] in ("start", "proxy", "edge"):
        from hubdist.services import edge, proxy, start

        return {"start": start, "proxy": proxy, "edge": edge}[argv[0]].main(argv[1:])
    if argv and argv[0] == "prepull":
        from hubdist.services import prepull

        return prepull.main(argv[1:])
    if argv and argv[0] == "netguard":
        from hubdist import netguard

        return netguard.main(argv[1:])
    if argv and argv[0] == "doctor":
        from hubdist import doctor

        return doctor.main(argv[1:])
    if argv and argv[0] in ("backup", "restore"):
        from hubdist.backup import make, restore

        return {"backup": make, "restore": restore}[argv[0]].main(argv[1:])
    if argv[:2] == ["db", "migrate"]:
        from hubdist.database import migrate

        return migrate.main(argv[2:])
    args = make_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
