"""Declared dependencies and versions: one JupyterHub version, read or checked everywhere;
the lock files pin what the images install; ``pip install hubdist`` declares everything the
default config imports; ``hubdist --version`` and the images' version labels agree."""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

import hubdist
from hubdist import _versions
from hubdist.spawners.base import ContainerSpawner

REPO = Path(__file__).resolve().parents[2]
HUB_LOCK = REPO / "requirements" / "hub.txt"
SINGLEUSER_LOCK = REPO / "images" / "singleuser" / "requirements.txt"
DOCKERFILES = {
    "hub": (REPO / "Dockerfile", "requirements/hub.txt"),
    "singleuser": (REPO / "images" / "singleuser" / "Dockerfile", "requirements.txt"),
}


def locked(path: Path) -> dict[str, str]:
    """{canonical name: version} of a pip-compile lock; every requirement must be pinned."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{path.name}: unpinned {line!r}"
        pins[canonicalize_name(requirement.name)] = specs[0].version
    return pins


def setup_cfg_requirements() -> dict[str, Requirement]:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    lines = parser["options"]["install_requires"].strip().splitlines()
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


# -- one JupyterHub version ---------------------------------------------------------------


def test_the_locks_pin_the_stated_versions():
    hub, singleuser = locked(HUB_LOCK), locked(SINGLEUSER_LOCK)
    assert hub["jupyterhub"] == _versions.JUPYTERHUB_VERSION
    # the single-user server must run the hub's JupyterHub
    assert singleuser["jupyterhub"] == _versions.JUPYTERHUB_VERSION
    assert singleuser["jupyterlab"] == _versions.JUPYTERLAB_VERSION
    for name in ("oauthenticator", "jupyterhub-idle-culler", "traitlets", "docker"):
        assert name in hub, f"{name} is not locked in {HUB_LOCK.name}"


def test_setup_cfg_admits_the_stated_jupyterhub_only_in_its_minor_series():
    spec = setup_cfg_requirements()["jupyterhub"].specifier
    assert _versions.JUPYTERHUB_VERSION in spec
    major, minor_ = (int(part) for part in _versions.JUPYTERHUB_VERSION.split(".")[:2])
    assert f"{major}.{minor_ + 1}.0" not in spec, "setup.cfg admits the next JupyterHub minor"


def test_the_spawner_default_image_follows_the_stated_jupyterhub():
    default = ContainerSpawner.class_traits()["image"].default_value
    assert default.rsplit(":", 1)[1] == _versions.minor(_versions.JUPYTERHUB_VERSION)


def benchmarks_prepare():
    """benchmarks/prepare.py, imported from the checkout (it is not an installed package)."""
    sys.path.insert(0, str(REPO))
    try:
        from benchmarks import prepare
    finally:
        sys.path.remove(str(REPO))
    return prepare


def test_the_benchmarks_use_the_stated_jupyterhub():
    prepare = benchmarks_prepare()
    assert prepare.JUPYTERHUB_VERSION == _versions.JUPYTERHUB_VERSION
    assert f"jupyterhub=={_versions.JUPYTERHUB_VERSION}" in prepare.VENV_REQUIREMENTS


def test_one_configurable_http_proxy_version():
    """The places that cannot read hubdist/_versions.py say the same; the benchmarks read it."""
    prepare = benchmarks_prepare()
    assert prepare.CHP_VERSION == _versions.CHP_VERSION
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.findall(r"^ARG CHP_VERSION=(\S+)$", dockerfile, re.MULTILINE) == [
        _versions.CHP_VERSION
    ]
    run = (REPO / "tests" / "run").read_text()
    assert re.findall(r"^CHP_VERSION=(\S+)$", run, re.MULTILINE) == [_versions.CHP_VERSION]


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfiles_install_from_the_lock_and_state_no_version(image):
    dockerfile, lock = DOCKERFILES[image]
    text = dockerfile.read_text()
    assert re.search(rf"^COPY {re.escape(lock)} \S+$", text, re.MULTILINE), text
    assert re.search(r"pip install [^;]*-r /\S*requirements", text), "not installed from the lock"
    for name in ("jupyterhub", "jupyterlab", "oauthenticator", "idle-culler"):
        assert not re.search(rf"{name}==", text, re.IGNORECASE), f"{dockerfile}: pins {name}"
    assert "JUPYTERHUB_VERSION" not in text and "JUPYTERLAB_VERSION" not in text


def _code_files():
    """The repository's code and configuration, where a version could be written down."""
    skip = {".git", ".cache", "node_modules", "__pycache__", "tests", "build"}
    scripts = {"hubdist-up", "refresh", "run", "Dockerfile"}
    for path in REPO.rglob("*"):
        parts = set(path.relative_to(REPO).parts)
        if parts & skip or not path.is_file():
            continue
        if path.suffix in {".py", ".cfg", ".toml", ".yml", ".yaml", ".in", ".sh"} or (
            path.name in scripts or path.name.startswith("Dockerfile")
        ):
            yield path


def test_the_jupyterhub_version_is_written_once():
    """Outside hubdist/_versions.py and the generated locks no code or config names it."""
    version = re.escape(_versions.JUPYTERHUB_VERSION)
    pattern = re.compile(rf"(?<![\d.]){version}(?![\d.])")
    allowed = {REPO / "hubdist" / "_versions.py", HUB_LOCK, SINGLEUSER_LOCK}
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _code_files()
        if path not in allowed
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, "JupyterHub's version written outside hubdist/_versions.py:\n" + "\n".join(
        found
    )


def test_every_setup_cfg_requirement_is_locked_within_its_range():
    hub = locked(HUB_LOCK)
    for name, requirement in setup_cfg_requirements().items():
        assert name in hub, f"{name} is not in {HUB_LOCK.name}: run requirements/refresh"
        assert hub[name] in requirement.specifier, f"{name}=={hub[name]} not in {requirement}"


def test_traitlets_has_an_upper_bound():
    """hubdist relies on traitlets' config internals (LazyConfigValue, Config merging)."""
    spec = setup_cfg_requirements()["traitlets"].specifier
    assert any(s.operator in ("<", "<=", "~=", "==") for s in spec), spec


# -- what pip install hubdist declares ----------------------------------------------------


@pytest.fixture(scope="module")
def built_metadata(tmp_path_factory) -> importlib.metadata.Distribution:
    """hubdist's metadata as setuptools makes it for pip from this checkout's setup.cfg."""
    source = tmp_path_factory.mktemp("hubdist-src")
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "hubdist", source / "hubdist")
    out = tmp_path_factory.mktemp("egg-info")
    subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "egg_info",
         "--egg-base", str(out)],
        cwd=source, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return importlib.metadata.PathDistribution(out / "hubdist.egg-info")


def test_pip_install_declares_the_hubs_runtime_requirements(built_metadata):
    requires = [Requirement(r) for r in built_metadata.requires or []]
    runtime = {canonicalize_name(r.name): r for r in requires if not r.marker}
    for name in ("jupyterhub", "oauthenticator", "jupyterhub-idle-culler", "traitlets"):
        assert name in runtime, f"{name} is not an install requirement: {sorted(runtime)}"
    assert built_metadata.version == hubdist.__version__


def _third_party_imports() -> set[str]:
    """Top-level modules hubdist and the default config import, stdlib and hubdist aside."""
    found = set()
    files = [*(REPO / "hubdist").rglob("*.py"), REPO / "config" / "jupyterhub_config.py"]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"hubdist", "__future__"}


def test_every_imported_package_is_an_install_requirement(built_metadata):
    """Everything imported by hubdist (whose modules the default config loads) is declared,
    not merely a test extra or a dependency of a dependency."""
    requires = [Requirement(r) for r in built_metadata.requires or []]
    declared = {canonicalize_name(r.name) for r in requires if not r.marker}
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module in sorted(_third_party_imports()):
        names = distributions.get(module) or [module.replace("_", "-")]
        if not {canonicalize_name(n) for n in names} & declared:
            missing.append(f"{module} ({', '.join(names)})")
    assert not missing, f"imported but not in install_requires: {missing}"


# -- hubdist's own version ----------------------------------------------------------------


def test_hubdist_version_prints_the_package_version():
    result = subprocess.run(
        [sys.executable, "-m", "hubdist", "--version"],
        cwd=REPO, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.stdout == f"{hubdist.__version__}\n"


LABELLED = {image: path for image, (path, _) in DOCKERFILES.items()}
LABELLED["postgres"] = REPO / "images" / "postgres" / "Dockerfile"  # no lock: Debian's only


@pytest.mark.parametrize("image", sorted(LABELLED))
def test_dockerfiles_label_the_package_version(image):
    """The version label's default is hubdist's version (the hub's build checks it again
    against the installed package)."""
    text = LABELLED[image].read_text()
    assert f"ARG HUBDIST_VERSION={hubdist.__version__}\n" in text
    assert 'org.opencontainers.image.version="${HUBDIST_VERSION}"' in text


def test_setup_cfg_reads_the_version_from_the_package():
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    assert parser["metadata"]["version"] == "attr: hubdist.__version__"


def test_the_pins_print_as_a_constraints_file():
    result = subprocess.run(
        [sys.executable, "-m", "hubdist._versions"],
        cwd=REPO, capture_output=True, text=True, check=True, env={"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    pins = {canonicalize_name(Requirement(line).name): Requirement(line).specifier
            for line in result.stdout.splitlines()}  # fmt: skip
    assert pins == {
        "jupyterhub": SpecifierSet(f"=={_versions.JUPYTERHUB_VERSION}"),
        "jupyterlab": SpecifierSet(f"=={_versions.JUPYTERLAB_VERSION}"),
    }
