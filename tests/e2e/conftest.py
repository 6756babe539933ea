"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import pytest

from .github import github_deployment


@pytest.fixture(scope="package")
def github_hub(tmp_path_factory):
    """One deployment with GitHub login against the fake GitHub, for the login and browser
    tests alike (each uses users of its own): bringing one up takes the longest."""
    config_dir = tmp_path_factory.mktemp("github-config.d")
    # A server here is ready in about a second, and JupyterHub shows its spawn-pending page
    # only to a spawn that takes longer (it waits 1 s first): held 2 s before it starts,
    # every spawn of this deployment shows the page the browser test watches.
    (config_dir / "60-spawns-take-2s.py").write_text(
        "import asyncio\n\n\n"
        "async def hold_the_spawn(spawner):\n"
        "    await asyncio.sleep(2)\n\n\n"
        "c.Spawner.pre_spawn_hook = hold_the_spawn\n"
    )
    with github_deployment(config_dir) as hub:
        yield hub
