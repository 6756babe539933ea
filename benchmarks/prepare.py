"""What the benchmarks need before they run: the venv with dockerspawner, the images and
the local registry.

dockerspawner is never a dependency of hubdist: it goes into a virtual environment of the
benchmark's own (``.cache/bench-venv``, made with ``--system-site-packages`` so it shares
JupyterHub and hubdist with the interpreter that made it), and both hubs run with that
venv's python, so they differ only in ``spawner_class``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
CACHE = REPO / ".cache"
VENV = CACHE / "bench-venv"
VENV_PYTHON = VENV / "bin" / "python"


def _checkout_versions():
    """This checkout's hubdist/_versions.py (not an installed hubdist's)."""
    spec = importlib.util.spec_from_file_location(
        "hubdist_checkout_versions", REPO / "hubdist" / "_versions.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_VERSIONS = _checkout_versions()
JUPYTERHUB_VERSION = _VERSIONS.JUPYTERHUB_VERSION
DOCKERSPAWNER_VERSION = "14.0.0"
CHP_VERSION = _VERSIONS.CHP_VERSION
VENV_REQUIREMENTS = [
    f"jupyterhub=={JUPYTERHUB_VERSION}",
    f"dockerspawner=={DOCKERSPAWNER_VERSION}",
    "aiohttp",
    "docker",
    "requests",
    "matplotlib",  # the plots in RESULTS.md (the venv only; never a hubdist dependency)
]

LAB_IMAGE = os.environ.get("HUBDIST_TEST_IMAGE", "hubdist/singleuser:test")
BASE_IMAGE = os.environ.get("HUBDIST_BASE_IMAGE", "hubdist/base:bookworm")
TRIVIAL_IMAGE = "hubdist-bench-trivial:1"
STUBBORN_IMAGE = "hubdist-bench-stubborn:1"
BIG_REPO = "hubdist-bench-big"
BIG_BYTES = 400_000_000
REGISTRY_DATA = CACHE / "bench-registry"
REGISTRY_BIN = "/usr/bin/docker-registry"
HASH_LABEL = "org.hubdist.bench.source"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the venv ------------------------------------------------------------------------------


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _venv_ok() -> bool:
    if not VENV_PYTHON.exists():
        return False
    check = (
        "import sys, dockerspawner, jupyterhub, hubdist, aiohttp, docker, requests, matplotlib;"
        f"assert dockerspawner.__version__ == {DOCKERSPAWNER_VERSION!r}, dockerspawner.__version__;"
        f"assert jupyterhub.__version__ == {JUPYTERHUB_VERSION!r}, jupyterhub.__version__;"
        f"assert hubdist.__file__.startswith({str(REPO)!r}), hubdist.__file__"
    )
    result = subprocess.run([VENV_PYTHON, "-c", check], capture_output=True, cwd="/")
    return result.returncode == 0


def ensure_venv() -> None:
    """Make .cache/bench-venv with dockerspawner 14.0.0 (and hubdist from this checkout)."""
    if _venv_ok():
        return
    log(f"making {VENV.relative_to(REPO)} (dockerspawner {DOCKERSPAWNER_VERSION})")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(VENV)], check=True)
    pip = [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + VENV_REQUIREMENTS, check=True)
    probe = subprocess.run(
        [VENV_PYTHON, "-c", "import hubdist; print(hubdist.__file__)"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    if probe.returncode or not probe.stdout.strip().startswith(str(REPO)):
        subprocess.run(pip + ["-e", str(REPO)], check=True)
    if not _venv_ok():
        raise SystemExit(f"{VENV} is not usable; delete it and try again")


def reexec_in_venv(argv: list[str]) -> None:
    """Run this benchmark again with the venv's python (hubs inherit it as sys.executable)."""
    ensure_venv()
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), "-m", "benchmarks", *argv])


# -- tools ---------------------------------------------------------------------------------


def check_tools() -> list[str]:
    """Problems that stop the whole run (missing engine, proxy, images)."""
    problems = []
    if subprocess.run(["docker", "info"], capture_output=True).returncode:
        problems.append("the Docker engine does not answer (tests/run starts it)")
    chp = shutil.which("configurable-http-proxy")
    if not chp:
        problems.append("configurable-http-proxy is not on PATH (tests/run installs it)")
    else:
        version = subprocess.run([chp, "--version"], capture_output=True, text=True).stdout
        if version.strip() != CHP_VERSION:
            problems.append(f"configurable-http-proxy is {version.strip()}, not {CHP_VERSION}")
    for image in (LAB_IMAGE, BASE_IMAGE):
        if not image_present(image):
            problems.append(f"image {image} is missing (tests/run builds it)")
    return problems


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, **kwargs)


def image_present(image: str) -> bool:
    return docker("image", "inspect", image, check=False).returncode == 0


def image_label(image: str, label: str) -> str | None:
    result = docker("image", "inspect", "--format", "{{json .Config.Labels}}", image, check=False)
    if result.returncode:
        return None
    return (json.loads(result.stdout) or {}).get(label)


# -- images --------------------------------------------------------------------------------


def _source_hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def build(
    tag: str, dockerfile: str, build_args: dict[str, str], source: str | None = None
) -> subprocess.CompletedProcess:
    """``docker build -q`` of one of images/' Dockerfiles; ``source`` labels the image with
    the hash of what it was built from (see ``_build``)."""
    args = ["build", "-q", "-f", str(HERE / "images" / dockerfile), "-t", tag]
    if source:
        args += ["--label", f"{HASH_LABEL}={source}"]
    for key, value in build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    return docker(*args, str(HERE / "images"), check=False)


def _build(tag: str, dockerfile: str, build_args: dict[str, str], source: str) -> None:
    """Build unless the image is already labelled with this ``source``."""
    if image_label(tag, HASH_LABEL) == source:
        return
    log(f"building {tag}")
    result = build(tag, dockerfile, build_args, source)
    if result.returncode:
        raise SystemExit(f"building {tag} failed:\n{result.stdout}\n{result.stderr}")


BASELINE_DOCKERFILE = "Dockerfile.baseline-lab"


def baseline_build_args(base_image: str) -> dict[str, str]:
    """The build arguments of the plain ``pip install jupyterhub jupyterlab`` image (S12's
    baseline, and the image tests/engine/test_image_features.py holds hubdist's to the same
    features): the given base and hubdist's own versions of both."""
    return {
        "BASE_IMAGE": base_image,
        "JUPYTERHUB_VERSION": JUPYTERHUB_VERSION,
        "JUPYTERLAB_VERSION": _VERSIONS.JUPYTERLAB_VERSION,
    }


def ensure_images() -> None:
    images = HERE / "images"
    base_id = docker("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE).stdout.strip()
    trivial_src = _source_hash(
        base_id, (images / "Dockerfile.trivial").read_text(), (images / "serve.py").read_text()
    )
    _build(TRIVIAL_IMAGE, "Dockerfile.trivial", {"BASE_IMAGE": BASE_IMAGE}, trivial_src)
    stubborn_src = _source_hash(trivial_src, (images / "Dockerfile.stubborn").read_text())
    _build(STUBBORN_IMAGE, "Dockerfile.stubborn", {"TRIVIAL_IMAGE": TRIVIAL_IMAGE}, stubborn_src)


def big_source() -> str:
    return _source_hash(
        image_label(TRIVIAL_IMAGE, HASH_LABEL) or "",
        (HERE / "images" / "Dockerfile.big").read_text(),
        str(BIG_BYTES),
    )


# -- the local registry --------------------------------------------------------------------


def registry_has(port: int, repo: str, tag: str) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v2/{repo}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def registry_config(workdir: Path, port: int) -> Path:
    REGISTRY_DATA.mkdir(parents=True, exist_ok=True)
    config = workdir / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {REGISTRY_DATA}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    return config


def push_big_image(registry_port: int) -> None:
    """Build the 400 MB image, push it to the registry, and remove it locally again.

    Its tag carries a hash of its source, so the registry keeps it across runs.
    """
    tag = big_source()
    if registry_has(registry_port, BIG_REPO, tag):
        return
    local = f"{BIG_REPO}-build:{tag}"
    remote = f"127.0.0.1:{registry_port}/{BIG_REPO}:{tag}"
    log(
        f"building and pushing the {BIG_BYTES // 1_000_000} MB image (once; kept in "
        f"{REGISTRY_DATA.relative_to(REPO)})"
    )
    _build(local, "Dockerfile.big", {"TRIVIAL_IMAGE": TRIVIAL_IMAGE, "BYTES": str(BIG_BYTES)}, tag)
    try:
        docker("tag", local, remote)
        result = docker("push", remote, check=False, timeout=600)
        if result.returncode:
            raise SystemExit(f"push to the local registry failed:\n{result.stderr}")
    finally:
        # without its local copy, a spawn of the image must really download the layer
        docker("rmi", remote, local, check=False)


# -- runs going on at the same time ------------------------------------------------------

RUNS_DIR = Path("/run/hubdist-bench")


def claim_run(run_id: str) -> set[str]:
    """Record this run as live (its pid) and return the ids of other runs still live.

    Several checkouts may benchmark on one engine; each removes only the leftovers of runs
    whose process is gone."""
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    live = set()
    for pid_file in RUNS_DIR.glob("*.pid"):
        try:
            os.kill(int(pid_file.read_text()), 0)
            live.add(pid_file.stem)
        except (ValueError, ProcessLookupError):
            pid_file.unlink(missing_ok=True)
        except PermissionError:
            live.add(pid_file.stem)
    (RUNS_DIR / f"{run_id}.pid").write_text(str(os.getpid()))
    return live


if __name__ == "__main__":
    # tests/run: `python -m benchmarks.prepare baseline TAG BASE_IMAGE` builds the baseline
    # image beside its other builds, so the tests' own build of it comes from the cache.
    if sys.argv[1:2] != ["baseline"] or len(sys.argv) != 4:
        raise SystemExit("usage: python -m benchmarks.prepare baseline TAG BASE_IMAGE")
    _tag, _base = sys.argv[2:]
    _result = build(_tag, BASELINE_DOCKERFILE, baseline_build_args(_base))
    print(_result.stdout + _result.stderr, end="")
    sys.exit(_result.returncode)
