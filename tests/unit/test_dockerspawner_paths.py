"""Which line a config moved from dockerspawner must write instead of each line that names
dockerspawner's modules (hubdist.config.dockerspawner_paths)."""

from __future__ import annotations

import pytest

from hubdist.config.dockerspawner_paths import problems

WRITE_INSTEAD = {
    "import dockerspawner": "import hubdist.dockerspawner_compat as dockerspawner",
    "import dockerspawner as ds": "import hubdist.dockerspawner_compat as ds",
    "import os, dockerspawner.volumenamingstrategy": (
        "import os, hubdist.dockerspawner_compat as dockerspawner"
    ),
    "import dockerspawner.volumenamingstrategy as v": (
        "import hubdist.dockerspawner_compat.volumenamingstrategy as v"
    ),
    "from dockerspawner.dockerspawner import DockerSpawner as D": (
        "from hubdist.dockerspawner_compat import DockerSpawner as D"
    ),
    "if True:\n    from dockerspawner import SwarmSpawner": (
        "    from hubdist.dockerspawner_compat import SwarmSpawner"
    ),
    "c.JupyterHub.spawner_class = 'docker-system-user'": (
        "c.JupyterHub.spawner_class = 'hubdist.SystemUserSpawner'"
    ),
}


@pytest.mark.parametrize("line", WRITE_INSTEAD)
def test_the_line_to_write_instead(tmp_path, line):
    config = tmp_path / "old.py"
    config.write_text(f"# moved\n{line}\n")

    (problem,) = problems(config, "override")

    assert problem.origin.line == 1 + line.count("\n") + 1
    assert problem.message.endswith(f"; write instead: {WRITE_INSTEAD[line]}"), problem.message


def test_a_module_hubdist_has_no_stand_in_for_is_refused_saying_what_there_is(tmp_path):
    config = tmp_path / "old.py"
    config.write_text("from dockerspawner.mixins import LegacyMixin\n")

    (problem,) = problems(config, "override")

    assert "hubdist.dockerspawner_compat has no such name" in problem.message
    assert "DockerSpawner, SwarmSpawner, SystemUserSpawner and volumenamingstrategy" in (
        problem.message
    )


def test_other_strings_and_modules_named_like_docker_are_left_alone(tmp_path):
    config = tmp_path / "old.py"
    config.write_text(
        "import docker\nfrom mydockerspawner import X\n"
        'c.DockerSpawner.network_name = "docker"\nc.DockerSpawner.cmd = ["docker"]\n'
    )

    assert problems(config, "override") == []
