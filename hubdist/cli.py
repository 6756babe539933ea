"""The ``hubdist`` command line."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    if args.quiet:
        cmd.append("--quiet")
    cmd += ["-t", tag, str(context)]
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd).returncode


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hubdist", description="hubdist: JupyterHub for Docker")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # Listed here for --help only; main() hands its arguments to hubdist.baseimage.
    commands.add_parser(
        "base-image", help="make a local Debian base image with debootstrap (air-gapped sites)"
    )

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
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "base-image":
        from hubdist import baseimage

        return baseimage.main(argv[1:])
    args = make_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
