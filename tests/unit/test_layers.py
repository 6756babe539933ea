"""Configuration layers (hubdist.config) and what a configuration may say (its catalog).

A small defaults file stands in for config/jupyterhub_config.py (tests/deploy reads that
one). It is loaded the way JupyterHub loads a config file (``start``), or read the way
``hubdist config`` reads it (``inspect``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from hubdist.config import inspect as config_inspect
from hubdist.config import recording, tree, variables

REPO = Path(__file__).resolve().parents[2]

DEFAULTS = """\
from hubdist.config import layers

c = layers.record(get_config())
env = layers.Environment(c)
c.JupyterHub.spawner_class = "hubdist.DockerSpawner"
c.DockerSpawner.image = "default:1"
c.DockerSpawner.volumes = {{"home": "/home/jovyan"}}
env.apply()
layers.load_overrides(c, {overrides!r})
layers.finish(c)
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("HUBDIST_", "GITHUB_", "OAUTH_")):
            monkeypatch.delenv(name)
    overrides = tmp_path / "config.d"
    overrides.mkdir()
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(DEFAULTS.format(overrides=str(overrides)))

    def write(name: str, text: str) -> str:
        (overrides / name).write_text(text)
        return str(overrides / name)

    return SimpleNamespace(config=config, overrides=overrides, write=write)


def start(site) -> Config:
    """What JupyterHub gets from the file."""
    return PyFileConfigLoader(site.config.name, path=str(site.config.parent)).load_config()


def inspect(site) -> recording.Recorder:
    """What `hubdist config` sees."""
    return config_inspect.read(site.config, site.overrides)


def where(recorder: recording.Recorder, name: str) -> recording.Origin:
    return recorder.origin(tuple(name.split(".")))


def messages(recorder: recording.Recorder) -> list[str]:
    return [str(problem) for problem in recorder.problems]


# -- provenance -------------------------------------------------------------------------------


def test_each_value_knows_the_line_that_set_it(site):
    py = site.write(
        "50-mine.py",
        "# more memory\n"  # 1
        "c.Spawner.environment = {\n"  # 2
        '    "A": "1",\n'  # 3
        "}\n"  # 4
        "if True:\n"  # 5
        '    c.Spawner.default_url = "/lab"\n'  # 6
        "def tune(c):\n"  # 7
        "    c.Spawner.http_timeout = 60\n"  # 8
        "tune(c)\n",  # 9
    )

    recorder = inspect(site)

    assert recorder.problems == []
    assert where(recorder, "Spawner.environment") == recording.Origin("override", py, 2)
    assert where(recorder, "Spawner.default_url") == recording.Origin("override", py, 6)
    assert where(recorder, "Spawner.http_timeout") == recording.Origin("override", py, 8)
    defaults = recording.Origin("defaults", str(site.config), 6)
    assert where(recorder, "DockerSpawner.image") == defaults


def test_a_value_changed_in_place_is_credited_to_the_line_that_changed_it(site):
    py = site.write(
        "50-mine.py",
        'c.Spawner.default_url = "/lab"\nc.DockerSpawner.volumes["data"] = "/data"\n'
        'c.Authenticator.allowed_users.add("zoe")\n',
    )

    recorder = inspect(site)

    volumes = where(recorder, "DockerSpawner.volumes")
    assert (volumes.source, volumes.line, volumes.note) == (py, 2, "changed in place")
    assert where(recorder, "Authenticator.allowed_users").line == 3
    assert start(site).DockerSpawner.volumes == {"home": "/home/jovyan", "data": "/data"}


def test_yaml_and_json_values_know_their_file_line_and_key(site):
    yml = site.write("60-limits.yaml", "# limits\nSpawner:\n  mem_limit: 2G\n  cpu_limit: 1.5\n")
    jsn = site.write("70-lab.json", '{\n  "Spawner": {\n    "default_url": "/lab"\n  }\n}\n')

    recorder = inspect(site)

    assert recorder.problems == []
    assert where(recorder, "Spawner.cpu_limit") == recording.Origin(
        "override", yml, 4, "Spawner.cpu_limit"
    )
    assert where(recorder, "Spawner.default_url") == recording.Origin(
        "override", jsn, 3, "Spawner.default_url"
    )
    assert start(site).Spawner.mem_limit == "2G"


def test_later_layers_win_environment_over_defaults_overrides_in_name_order(site, monkeypatch):
    monkeypatch.setenv("HUBDIST_SINGLEUSER_IMAGE", "env:1")
    monkeypatch.setenv("HUBDIST_NETWORK", "net1")
    site.write("10-a.py", 'c.DockerSpawner.image = "py:1"\n')
    site.write("20-b.yaml", "DockerSpawner:\n  image: yaml:1\n")
    site.write("30-c.py", 'c.DockerSpawner.prefix = "p" + c.DockerSpawner.image\n')
    site.write("README.md", "not read\n")

    c = start(site)
    recorder = inspect(site)

    assert (c.DockerSpawner.image, c.DockerSpawner.network_name) == ("yaml:1", "net1")
    assert c.DockerSpawner.prefix == "pyaml:1"
    assert where(recorder, "DockerSpawner.network_name") == recording.Origin(
        "environment", "HUBDIST_NETWORK"
    )
    assert [o.layer for o in recorder.history[("DockerSpawner", "image")]] == [
        "defaults",
        "environment",
        "override",
        "override",
    ]


def test_the_hub_gets_a_plain_traitlets_config(site):
    site.write("50-mine.py", "c.JupyterHub.log_level = 'DEBUG'\n")

    c = start(site)

    assert type(c) is Config and type(c.JupyterHub) is Config
    assert c.JupyterHub.log_level == "DEBUG"


def test_environment_values_are_parsed_by_their_option_and_problems_name_the_variable(
    site, monkeypatch
):
    monkeypatch.setenv("HUBDIST_SPAWNER", "system-user")
    monkeypatch.setenv("HUBDIST_ADMIN_USERS", "Alice, bob carol")
    monkeypatch.setenv("HUBDIST_CPU_LIMIT", "1.5")
    monkeypatch.setenv("HUBDIST_MEM_LIMIT", " 2G ")
    c = start(site)
    assert c.JupyterHub.spawner_class == "hubdist.SystemUserSpawner"
    assert c.Authenticator.admin_users == {"alice", "bob", "carol"}
    assert (c.Spawner.cpu_limit, c.Spawner.mem_limit) == (1.5, "2G")

    monkeypatch.setenv("HUBDIST_CPU_LIMIT", "many")
    monkeypatch.setenv("HUBDIST_MEM_LIMIT", "lots")
    assert messages(inspect(site)) == [
        "environment variable HUBDIST_CPU_LIMIT: Spawner.cpu_limit: wrong type: "
        "The 'cpu_limit' trait of a Spawner instance expected a callable or a float, "
        "not the str 'many'.",
        "environment variable HUBDIST_MEM_LIMIT: Spawner.mem_limit: wrong type: "
        "The 'mem_limit' trait of a Spawner instance expected a callable or an int, "
        "not the str 'lots'.",
    ]


# -- the checks --------------------------------------------------------------------------------


def test_a_bad_config_stops_the_hub_with_one_line_per_problem_and_no_traceback(site):
    py = site.write("50-mine.py", '\nc.DockerSpawner.imgae = "lab:1"\nc.Spawner.cpu_limit = "x"\n')
    yml = site.write("60-mine.yaml", "DokerSpawner:\n  image: lab:1\n")

    with pytest.raises(SystemExit) as stopped:
        start(site)

    assert stopped.value.problems == inspect(site).problems
    text = str(stopped.value)
    assert text.startswith("hubdist: the hub will not start: 3 problem(s)")
    lines = text.splitlines()
    assert f"  {py}:2: DockerSpawner.imgae: DockerSpawner has no option 'imgae'; " in lines[1]
    assert lines[1].endswith("did you mean DockerSpawner.image?")
    assert lines[2].startswith(f"  {py}:3: Spawner.cpu_limit: wrong type: ")
    assert lines[3] == (
        f"  {yml}:2: DokerSpawner.image: unknown class DokerSpawner; did you mean DockerSpawner?"
    )


def test_an_option_of_the_spawner_in_use_may_be_set_on_its_base_class(site):
    site.write("50-mine.py", 'c.Spawner.image = "lab:1"\n')
    assert inspect(site).problems == []

    site.write("60-local.py", 'c.JupyterHub.spawner_class = "simple"\n')
    (problem,) = inspect(site).problems
    assert problem.key == "Spawner.image"
    assert problem.message.startswith("Spawner has no option 'image'; did you mean ")
    assert "DockerSpawner.image" in problem.message


def test_classes_named_by_a_class_option_or_imported_by_an_override_are_known(
    site, tmp_path, monkeypatch
):
    (tmp_path / "siteauth.py").write_text(
        "from jupyterhub.auth import Authenticator\nfrom traitlets import Unicode\n"
        "class SiteAuthenticator(Authenticator):\n    motto = Unicode(config=True)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "siteauth", raising=False)
    site.write(
        "50-auth.py",
        'c.JupyterHub.authenticator_class = "siteauth.SiteAuthenticator"\n'
        'c.SiteAuthenticator.motto = "hi"\n',
    )
    site.write(
        "60-own.py",
        "from traitlets.config import Configurable\nfrom traitlets import Integer\n"
        "class Banner(Configurable):\n    width = Integer(config=True)\n"
        "c.Banner.width = 80\nc.Banner.wdth = 80\n",
    )

    assert messages(inspect(site)) == [
        f"{site.overrides}/60-own.py:6: Banner.wdth: Banner has no option 'wdth'; "
        "did you mean Banner.width?"
    ]


def test_values_changed_lazily_are_checked_as_they_will_end_up(site):
    site.write("50-mine.py", "c.Spawner.args.append(3)\nc.Spawner.cmd.append('lab')\n")

    (problem,) = inspect(site).problems

    assert (problem.origin.line, problem.key) == (1, "Spawner.args")
    assert "wrong type" in problem.message


@pytest.mark.parametrize(
    ("name", "text", "line", "said"),
    [
        ("50-bad.yaml", "Spawner:\n  mem_limit: [1\n", 3, "not valid: while parsing"),
        ("50-bad.json", '{\n  "Spawner": {"mem_limit": }\n}\n', 2, "not valid: Expecting value"),
        ("50-list.yaml", "- Spawner\n", 1, "must be a mapping of Class: {option: value}"),
        ("50-flat.yaml", "Spawner: 2G\n", 1, "Spawner: a class takes a mapping of option: value"),
        ("50-lower.yaml", "spawner:\n  mem_limit: 2G\n", 1, "spawner: not a class"),
    ],
)
def test_malformed_data_files_are_reported_with_their_line(site, name, text, line, said):
    path = site.write(name, text)

    (problem,) = inspect(site).problems

    assert problem.origin.source == path and problem.origin.line == line
    assert said in str(problem)


def test_an_override_that_raises_is_reported_where_it_raised(site):
    py = site.write("50-broken.py", "\nc.Spawner.cmd = undefined_name\n")

    (problem,) = inspect(site).problems

    assert str(problem) == f"{py}:2: NameError: name 'undefined_name' is not defined"


# -- secrets and display ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["client_secret", "cookie_secret", "api_token", "auth_token", "admin_password", "keys"],
)
def test_secret_looking_names_are_secret(name):
    assert tree.looks_secret(name)


@pytest.mark.parametrize(
    "name", ["cookie_secret_file", "token_url", "client_id", "image", "keys_dir", "monkeys"]
)
def test_other_names_are_not(name):
    assert not tree.looks_secret(name)


def test_show_redacts_secrets_also_inside_dicts(site, monkeypatch):
    monkeypatch.setenv("GITHUB_CLIENT_ID", "id1")
    monkeypatch.setenv("GITHUB_CLIENT_SECRET", "hush-1")
    site.write("50-mine.py", 'c.Spawner.environment = {"API_TOKEN": "hush-2", "LANG": "C"}\n')

    shown = {entry["name"]: entry for entry in config_inspect.entries(inspect(site))}

    assert shown["GitHubOAuthenticator.client_secret"]["value"] == "<redacted>"
    assert shown["GitHubOAuthenticator.client_secret"]["source"] == "GITHUB_CLIENT_SECRET"
    assert shown["Spawner.environment"]["value"] == "{'API_TOKEN': <redacted>, 'LANG': 'C'}"
    assert "hush" not in repr(shown)


def test_every_variable_is_documented_with_its_default():
    docs = (REPO / "docs" / "configuration.md").read_text()
    for variable in variables.VARIABLES:
        row = next((line for line in docs.splitlines() if f"`{variable.name}`" in line), "")
        assert row, f"{variable.name} is not in docs/configuration.md"
        assert f"`{variable.default}`" in row if variable.default else "(unset)" in row


def test_swarm_refuses_docker_options_a_service_cannot_honour_wherever_they_are_set(site):
    """SwarmSpawner reads c.DockerSpawner.* (as dockerspawner's does, and hubdist's defaults
    rely on); what a service cannot do is refused with the reason, not silently ignored."""
    site.write("10-swarm.py", 'c.JupyterHub.spawner_class = "hubdist.SwarmSpawner"\n')
    site.write("20-ok.py", "c.DockerSpawner.remove = True\nc.DockerSpawner.mem_limit = '1G'\n")
    assert inspect(site).problems == [], "what Swarm does anyway, and shared options, pass"

    site.write("30-docker.py", 'c.DockerSpawner.post_start_cmd = "chmod 700 ~"\n')
    site.write("40-swarm.py", 'c.SwarmSpawner.extra_host_config = {"shm_size": "1G"}\n')
    found = {problem.key: problem.message for problem in inspect(site).problems}
    assert found["DockerSpawner.post_start_cmd"].startswith(
        "SwarmSpawner cannot honour post_start_cmd = 'chmod 700 ~': the hub cannot exec"
    )
    assert (
        "a service has no host config: use extra_container_spec"
        in (found["SwarmSpawner.extra_host_config"])
    )
    assert len(found) == 2


def test_profiles_and_allowed_images_together_stop_the_hub_wherever_they_are_set(site):
    """Either one decides what a user may start; both at once would leave it unclear."""
    py = site.write("50-profiles.py", 'c.DockerSpawner.profiles = [{"name": "lab"}]\n')
    assert inspect(site).problems == []
    site.write("60-images.yaml", "Spawner:\n  allowed_images: [lab:1]\n")
    (problem,) = inspect(site).problems
    assert str(problem.origin) == f"override: {py}:1"
    assert problem.message.startswith("profiles and allowed_images are both set: use one")
