"""`hubdist config show` and `check` on the shipped defaults, and a hub refusing a bad config.

The commands read config/jupyterhub_config.py with an override folder in tmp_path; the hub
is the real `jupyterhub` reading the same file, stopped by the check before it binds a port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubdist import cli

REPO = Path(__file__).resolve().parents[2]
CONFIG_FILE = REPO / "config" / "jupyterhub_config.py"


def line_of(text: str, path: Path) -> int:
    """The number of the line of ``path`` that starts with ``text``."""
    lines = path.read_text().splitlines()
    (number,) = [n for n, line in enumerate(lines, 1) if line.startswith(text)]
    return number


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A clean environment, the data folder and an override folder in tmp_path."""
    for name in list(os.environ):
        if name.startswith(("HUBDIST_", "GITHUB_", "OAUTH_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUBDIST_DATA_DIR", str(tmp_path / "data"))
    overrides = tmp_path / "config.d"
    overrides.mkdir()
    return overrides


def test_show_says_which_layer_file_line_key_or_variable_set_each_value(site, tmp_path):
    (site / "50-mine.py").write_text(
        "# JupyterLab first\n\nc.Spawner.default_url = '/lab'\n"
        "c.DockerSpawner.volumes['data'] = '/data'\n"
    )
    (site / "60-github.yaml").write_text(
        "GitHubOAuthenticator:\n  client_id: abc\n  client_secret: hush-hush\n"
        "Spawner:\n  # limits\n  cpu_limit: 1.5\n"
    )
    env = {**os.environ, "HUBDIST_NETWORK": "net7", "HUBDIST_CPU_LIMIT": "3"}
    command = [sys.executable, "-m", "hubdist", "config", "show", "--override-dir", str(site)]

    shown = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True)
    text = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)

    assert shown.returncode == 0, shown.stderr
    values = {entry["name"]: entry for entry in json.loads(shown.stdout)["values"]}

    def origin(name: str) -> tuple:
        entry = values[name]
        return entry["layer"], entry["source"], entry["line"], entry["key"]

    line = line_of("c.JupyterHub.cleanup_servers = ", CONFIG_FILE)
    assert origin("JupyterHub.cleanup_servers") == ("defaults", str(CONFIG_FILE), line, None)
    assert origin("DockerSpawner.network_name") == ("environment", "HUBDIST_NETWORK", None, None)
    assert values["DockerSpawner.network_name"]["value"] == "'net7'"
    assert origin("Spawner.default_url") == ("override", f"{site}/50-mine.py", 3, None)
    assert origin("DockerSpawner.volumes")[:3] == ("override", f"{site}/50-mine.py", 4)
    # the YAML file comes after the environment, which had set the CPU limit to 3
    assert origin("Spawner.cpu_limit") == (
        "override",
        f"{site}/60-github.yaml",
        6,
        "Spawner.cpu_limit",
    )
    assert values["Spawner.cpu_limit"]["value"] == "1.5"
    assert values["GitHubOAuthenticator.client_secret"]["value"] == "<redacted>"
    assert values["GitHubOAuthenticator.client_id"]["value"] == "'abc'"

    assert text.returncode == 0, text.stderr
    assert f"c.Spawner.default_url = '/lab'  # override: {site}/50-mine.py:3\n" in text.stdout
    assert "c.DockerSpawner.network_name = 'net7'  # environment: HUBDIST_NETWORK\n" in text.stdout
    assert "hush-hush" not in shown.stdout + shown.stderr + text.stdout + text.stderr
    assert not (tmp_path / "data").exists(), "reading the config must not make trial passwords"


PROBLEMS = {
    "typo": (
        "c.DockerSpawner.imgae = 'lab:1'",
        "DockerSpawner:\n  imgae: lab:1",
        "DockerSpawner.imgae: DockerSpawner has no option 'imgae'; did you mean "
        "DockerSpawner.image?",
    ),
    "unknown class": (
        "c.DokerSpawner.image = 'lab:1'",
        "DokerSpawner:\n  image: lab:1",
        "DokerSpawner.image: unknown class DokerSpawner; did you mean DockerSpawner?",
    ),
    "wrong type": (
        "c.Spawner.start_timeout = 'soon'",
        "Spawner:\n  start_timeout: soon",
        "Spawner.start_timeout: wrong type: The 'start_timeout' trait of a Spawner instance "
        "expected an int, not the str 'soon'.",
    ),
}


@pytest.mark.parametrize("kind", PROBLEMS)
@pytest.mark.parametrize("suffix", [".py", ".yaml"])
def test_check_names_the_file_line_and_option_and_what_was_meant(site, capsys, kind, suffix):
    python, yaml, said = PROBLEMS[kind]
    override = site / f"50-mine{suffix}"
    override.write_text(f"# mine\n{python if suffix == '.py' else yaml}\n")
    line = 2 if suffix == ".py" else 3  # the assignment, or the option's key

    status = cli.main(["config", "check", "--override-dir", str(site)])

    out = capsys.readouterr().out
    assert status == 1
    assert out.splitlines() == [
        "1 problem(s); the hub would not start:",
        f"  {override}:{line}: {said}",
    ]


def test_check_passes_the_defaults_and_good_overrides(site, capsys, monkeypatch):
    monkeypatch.setenv("HUBDIST_SPAWNER", "swarm")
    monkeypatch.setenv("HUBDIST_MEM_LIMIT", "2G")
    (site / "50-lab.py").write_text("c.Spawner.image = 'lab:1'\nc.Spawner.args.append('--x')\n")
    (site / "60-lab.yml").write_text("SwarmSpawner:\n  placement_constraints: [node.role==x]\n")
    (site / "70-lab.json").write_text('{"JupyterHub": {"authenticator_class": "dummy"}}')

    status = cli.main(
        ["config", "check", "--config-file", str(CONFIG_FILE), "--override-dir", str(site)]
    )

    assert (status, capsys.readouterr().out) == (
        0,
        f"configuration OK: {CONFIG_FILE} < environment < {site}\n",
    )


def test_a_bad_variable_is_a_problem_too(site, capsys, monkeypatch):
    monkeypatch.setenv("HUBDIST_SPAWNER", "kubernetes")

    assert cli.main(["config", "check", "--override-dir", str(site)]) == 1
    assert (
        "  environment variable HUBDIST_SPAWNER: JupyterHub.spawner_class: "
        "HUBDIST_SPAWNER='kubernetes': use one of docker, swarm, system-user\n"
    ) in capsys.readouterr().out


def test_from_a_checkout_the_commands_find_config_and_config_d(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBDIST_OVERRIDE")}
    env["HUBDIST_DATA_DIR"] = str(tmp_path)

    shown = subprocess.run(
        [sys.executable, "-m", "hubdist", "config", "show", "JupyterHub.spawner_class"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )

    assert shown.stdout.splitlines()[0] == (
        f"# layers, later ones win: {CONFIG_FILE} < environment < {REPO / 'config.d'}"
    )


def start_refused_hub(site: Path, workdir: Path) -> subprocess.CompletedProcess:
    """Run JupyterHub on the default config with ``site`` as config.d, as the hub image does
    (it must stop before it binds its ports: those given are used by nothing else here)."""
    env = {**os.environ, "HUBDIST_OVERRIDE_DIR": str(site)}
    ports = ["--port=18951", "--JupyterHub.hub_port=18952"]
    return subprocess.run(
        [sys.executable, "-m", "hubdist.services.hub", "-f", str(CONFIG_FILE), *ports],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_hub_refuses_to_start_with_the_problem_and_no_traceback(site, tmp_path):
    (site / "50-typo.py").write_text("c.DockerSpawner.mem_limt = '2G'\n")
    hub = start_refused_hub(site, tmp_path)

    assert hub.returncode == 1
    assert hub.stderr.splitlines()[:2] == [
        "hubdist: the hub will not start: 1 problem(s) in its configuration:",
        f"  {site}/50-typo.py:1: DockerSpawner.mem_limt: DockerSpawner has no option "
        "'mem_limt'; did you mean DockerSpawner.mem_limit?",
    ]
    assert "Traceback" not in hub.stderr + hub.stdout
    # stopped before trial mode made a password, or JupyterHub made its database
    assert not (tmp_path / "data").exists() and not list(tmp_path.glob("*.sqlite"))


def test_show_and_check_are_a_dry_run_that_makes_no_file(site, tmp_path):
    """The defaults file asks hubdist.config.layers.dry_run(c): reading it for `config
    show` makes no trial password (a real start would) and touches nothing else."""
    data = tmp_path / "data"
    data.mkdir()
    for action in ("show", "check"):
        command = [sys.executable, "-m", "hubdist", "config", action, "--override-dir", str(site)]
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "trial" in done.stdout + done.stderr  # it did read the trial-mode part
    assert list(data.iterdir()) == [], "nothing made in the data folder"
