"""The one exception a spawn fails with for a reason the user should read."""

from __future__ import annotations


class SpawnFailed(Exception):
    """A spawn failed for a reason the user should read (shown on the spawn page)."""

    def __init__(self, message: str):
        super().__init__(message)
        # JupyterHub shows this text in the progress stream and on the error page
        self.jupyterhub_message = message
