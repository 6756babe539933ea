"""Make a local Debian base image without any container registry.

Air-gapped sites (and machines behind a TLS-intercepting proxy) often cannot
pull ``python:3.12-slim-trixie``. A Debian mirror is usually reachable, so we
bootstrap a minimal root file system with debootstrap and ``docker import`` it.
The result has Python 3 (with venv, no pip), ca-certificates and tini, which is
all the hubdist Dockerfiles need from their ``BASE_IMAGE``.

Only the ``docker`` CLI is used, through subprocess.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_TAG = "hubdist/base:bookworm"
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = "python3,python3-venv,ca-certificates,tini"
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
EXTRA_CA_NAME = "hubdist-extra.crt"
# The tools each trust only their own variable; point them all at the system bundle.
CA_ENV_VARS = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")
PATH_VALUE = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

INSTALL_HINTS = {
    "debootstrap": "install it with: apt-get install -y debootstrap",
    "docker": "install Docker (on Debian: apt-get install -y docker.io) and start dockerd",
}


class BaseImageError(Exception):
    """A failure with a message meant for the user (no traceback)."""


def _log(msg: str) -> None:
    print(f"[hubdist base-image] {msg}", file=sys.stderr, flush=True)


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        raise BaseImageError(f"'{tool}' was not found on PATH; {INSTALL_HINTS[tool]}")


def _run(cmd: list[str]) -> None:
    _log("$ " + " ".join(cmd))
    result = subprocess.run(cmd)
    if result.returncode != 0:
        raise BaseImageError(f"command failed with exit code {result.returncode}: {cmd[0]}")


def image_exists(tag: str) -> bool:
    result = subprocess.run(
        ["docker", "image", "inspect", tag], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if result.returncode != 0 and b"No such image" not in result.stderr:
        # Anything but "no such image" means the engine itself is not usable.
        raise BaseImageError(
            "cannot talk to the Docker engine (is dockerd running?): "
            + result.stderr.decode(errors="replace").strip()
        )
    return result.returncode == 0


def import_changes(with_ca: bool) -> list[str]:
    """The Dockerfile instructions given to ``docker import --change``."""
    env = {"LANG": "C.UTF-8", "PATH": PATH_VALUE}
    if with_ca:
        env.update({name: SYSTEM_BUNDLE for name in CA_ENV_VARS})
    changes = [f"ENV {key}={value}" for key, value in env.items()]
    changes.append('CMD ["/bin/bash"]')
    return changes


def _mounts_under(root: Path) -> list[str]:
    """Mount points inside root (debootstrap mounts /proc and /sys while it works)."""
    prefix = str(root).rstrip("/") + "/"
    found = []
    with open("/proc/mounts") as mounts:
        for line in mounts:
            # Spaces in mount points are escaped as \040 in /proc/mounts.
            point = line.split()[1].replace("\\040", " ")
            if point.startswith(prefix):
                found.append(point)
    return found


def _cleanup(workdir: Path) -> None:
    # Unmount anything a failed debootstrap left behind, deepest first, so that
    # removing the tree can never reach into the host's /proc, /sys or /dev.
    for point in sorted(_mounts_under(workdir), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], stderr=subprocess.DEVNULL)
    subprocess.run(["rm", "-rf", "--one-file-system", str(workdir)])


def _tidy_rootfs(root: Path) -> None:
    """Drop what debootstrap leaves that does not belong in an image."""
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    lists = root / "var/lib/apt/lists"
    for entry in lists.glob("*"):
        if entry.is_file():
            entry.unlink()
    # debootstrap copies the host's files here; Docker provides its own at run time.
    for name in ("etc/resolv.conf", "etc/hostname"):
        path = root / name
        if path.is_file() and not path.is_symlink():
            path.write_text("")
    # Like the official Debian images: no services are started by apt in a build.
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text(
        "#!/bin/sh\n# installed by hubdist: never start services in images\nexit 101\n"
    )
    policy.chmod(0o755)


def _add_ca_bundle(root: Path, bundle: Path) -> None:
    target = root / "usr/local/share/ca-certificates" / EXTRA_CA_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundle, target)
    target.chmod(0o644)
    _run(["chroot", str(root), "update-ca-certificates"])


def _import(root: Path, tag: str, with_ca: bool) -> None:
    cmd = ["docker", "import"]
    for change in import_changes(with_ca):
        cmd += ["--change", change]
    cmd += ["-", tag]
    _log(f"$ tar -C {root} -c . | " + " ".join(cmd))
    # --numeric-owner: ownership must follow the image's passwd, not the host's.
    tar = subprocess.Popen(
        ["tar", "-C", str(root), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE
    )
    try:
        imported = subprocess.run(cmd, stdin=tar.stdout)
    finally:
        tar.stdout.close()
        tar_rc = tar.wait()
    if tar_rc != 0 or imported.returncode != 0:
        raise BaseImageError(
            f"import failed (tar exit {tar_rc}, docker exit {imported.returncode})"
        )


def build(tag: str, suite: str, mirror: str, ca_bundle: Path | None, tmp: str | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="hubdist-base-", dir=tmp))
    try:
        root = workdir / "rootfs"
        _run(
            ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", suite, str(root), mirror]
        )
        _tidy_rootfs(root)
        if ca_bundle is not None:
            _add_ca_bundle(root, ca_bundle)
        _import(root, tag, with_ca=ca_bundle is not None)
    finally:
        _cleanup(workdir)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hubdist base-image",
        description="Make a local Debian base image with debootstrap (no registry needed).",
    )
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"image tag (default {DEFAULT_TAG})")
    parser.add_argument("--suite", default=DEFAULT_SUITE, help="Debian suite (default %(default)s)")
    parser.add_argument(
        "--mirror", default=DEFAULT_MIRROR, help="Debian mirror (default %(default)s)"
    )
    parser.add_argument(
        "--ca-bundle",
        type=Path,
        help="extra CA certificates (PEM) to trust inside the image, e.g. a proxy's CA",
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild even if the tag already exists"
    )
    parser.add_argument(
        "--tmpdir", help="where to make the temporary root file system (default: system temp)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if os.geteuid() != 0:
            raise BaseImageError("debootstrap and chroot need root; run this as root")
        _require("docker")
        if not args.force and image_exists(args.tag):
            _log(f"{args.tag} already exists; nothing to do (use --force to rebuild)")
            return 0
        _require("debootstrap")
        if args.ca_bundle is not None and not args.ca_bundle.is_file():
            raise BaseImageError(f"CA bundle not found: {args.ca_bundle}")
        build(args.tag, args.suite, args.mirror, args.ca_bundle, args.tmpdir)
    except BaseImageError as exc:
        _log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        _log("interrupted")
        return 130
    _log(f"built {args.tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
