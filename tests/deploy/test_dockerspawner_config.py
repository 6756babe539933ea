"""A jupyterhub_config.py written for dockerspawner, moved into config.d (docs/migrating.md):
lines that name dockerspawner's own modules are refused, each with the line to write; with
those lines written, the file loads and its settings take effect."""

from __future__ import annotations

from hubdist import cli
from hubdist.dockerspawner_compat import volumenamingstrategy

from .test_config_cli import CONFIG_FILE, site, start_refused_hub  # noqa: F401 (a fixture)

# the dockerspawner lines a config of a dockerspawner deployment typically has
OLD_CONFIG = """\
import os
import dockerspawner
from dockerspawner import DockerSpawner
from dockerspawner.volumenamingstrategy import escaped_format_volume_name

c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
if os.environ.get("SWARM"):
    c.JupyterHub.spawner_class = 'docker-swarm'
c.DockerSpawner.format_volume_name = dockerspawner.volumenamingstrategy.escaped_format_volume_name
c.DockerSpawner.volumes = {"jupyterhub-user-{username}": "/home/jovyan/work"}
c.DockerSpawner.name_template = "{prefix}-{username}"
"""

REPLACEMENTS = {
    2: "import hubdist.dockerspawner_compat as dockerspawner",
    3: "from hubdist.dockerspawner_compat import DockerSpawner",
    4: "from hubdist.dockerspawner_compat.volumenamingstrategy import escaped_format_volume_name",
    6: 'c.JupyterHub.spawner_class = "hubdist.DockerSpawner"',
    8: "    c.JupyterHub.spawner_class = 'hubdist.SwarmSpawner'",
}


def test_each_line_naming_dockerspawner_is_refused_with_the_line_to_write(site, capsys):  # noqa: F811
    old = site / "10-dockerspawner.py"
    old.write_text(OLD_CONFIG)

    assert cli.main(["config", "check", "--override-dir", str(site)]) == 1

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "5 problem(s); the hub would not start:", out
    for (number, replacement), said in zip(REPLACEMENTS.items(), out[1:], strict=True):
        assert said.startswith(f"  {old}:{number}: "), said
        assert "which hubdist does not ship" in said, said
        assert said.endswith(f"; write instead: {replacement}"), said


def test_with_the_lines_written_the_old_config_loads_and_takes_effect(site, capsys):  # noqa: F811
    lines = OLD_CONFIG.splitlines()
    for number, replacement in REPLACEMENTS.items():
        lines[number - 1] = replacement
    (site / "10-dockerspawner.py").write_text("\n".join(lines) + "\n")

    assert cli.main(["config", "check", "--override-dir", str(site)]) == 0, capsys.readouterr()
    assert cli.main(["config", "show", "--json", "--override-dir", str(site)]) == 0
    shown = capsys.readouterr().out
    assert '"DockerSpawner.format_volume_name"' in shown
    assert "escaped_format_volume_name" in shown
    assert "jupyterhub-user-{username}" in shown


def test_a_yaml_layer_naming_dockerspawners_class_is_refused_too(site, capsys):  # noqa: F811
    (site / "20-spawner.yaml").write_text("JupyterHub:\n  spawner_class: docker\n")

    assert cli.main(["config", "check", "--override-dir", str(site)]) == 1
    assert (
        f"  {site}/20-spawner.yaml:2: JupyterHub.spawner_class: 'docker' is dockerspawner's "
        "spawner, which hubdist does not ship; hubdist's takes the same settings: "
        'c.JupyterHub.spawner_class = "hubdist.DockerSpawner"'
    ) in capsys.readouterr().out.splitlines()


def test_dockerspawners_escaped_strategy_names_volumes_as_hubdists_default():
    class Spawner:
        def template_namespace(self):
            return {"username": "a-2eb", "servername": ""}

    assert volumenamingstrategy.escaped_format_volume_name("v-{username}", Spawner()) == "v-a-2eb"


def test_the_hub_refuses_to_start_with_the_line_to_write(site, tmp_path):  # noqa: F811
    (site / "10-dockerspawner.py").write_text("import dockerspawner\n")
    hub = start_refused_hub(site, tmp_path)

    assert hub.returncode == 1
    assert hub.stderr.splitlines()[:2] == [
        "hubdist: the hub will not start: 1 problem(s) in its configuration:",
        f"  {site}/10-dockerspawner.py:1: imports dockerspawner, which hubdist does not ship; "
        "write instead: import hubdist.dockerspawner_compat as dockerspawner",
    ]
    assert "Traceback" not in hub.stderr + hub.stdout
