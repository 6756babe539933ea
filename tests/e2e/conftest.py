"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import pytest

from .github import github_deployment


@pytest.fixture(scope="package")
def github_hub(tmp_path_factory):
    """One deployment with GitHub login against the fake GitHub, for the login and browser
    tests alike (each uses users of its own): bringing one up takes the longest."""
    with github_deployment(tmp_path_factory.mktemp("github-config.d")) as hub:
        yield hub
