"""The single-user image tests/run builds with `hubdist images build` carries hubdist's
version in its OCI label and runs the locked JupyterHub and JupyterLab."""

from __future__ import annotations

import pytest

import hubdist
from hubdist import _versions

from ..hubrig import TEST_IMAGE, docker

pytestmark = pytest.mark.engine


def test_the_image_is_labelled_with_hubdists_version(engine_ready):
    labels = docker("image", "inspect", "-f", "{{json .Config.Labels}}", TEST_IMAGE).stdout
    assert f'"org.opencontainers.image.version":"{hubdist.__version__}"' in labels, labels


def test_the_image_runs_the_pinned_versions(engine_ready):
    script = "import jupyterhub, jupyterlab; print(jupyterhub.__version__, jupyterlab.__version__)"
    result = docker("run", "--rm", "--network", "none", "--entrypoint", "python3", TEST_IMAGE,
                    "-c", script)  # fmt: skip
    assert result.stdout.split() == [_versions.JUPYTERHUB_VERSION, _versions.JUPYTERLAB_VERSION]
