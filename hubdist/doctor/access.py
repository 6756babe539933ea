"""How the doctor reads the hub and the proxy: the hub's API with a token of its own, a
JupyterHub service that may list users and read their servers and nothing else, and the
proxy's API with the proxy's token. Both tokens are the hub's secrets
(hubdist.services.secrets), read here and never made: ``hubdist start`` makes them."""

from __future__ import annotations

from collections.abc import Mapping

from ..services import secrets

SERVICE = "hubdist-doctor"
SCOPES = ["list:users", "read:servers"]


def hub_service(token: str) -> tuple[dict, dict]:
    """The JupyterHub service and role the default configuration gives the doctor."""
    service = {"name": SERVICE, "api_token": token}
    role = {
        "name": SERVICE,
        "description": "hubdist doctor: list users' servers to compare with the proxy's routes",
        "scopes": SCOPES,
        "services": [SERVICE],
    }
    return service, role


def stored_secret(spec: secrets.Spec, environ: Mapping[str, str]) -> str:
    """The secret as the hub got it (its variable, ``_FILE``, or the file ``hubdist start``
    made); "" if it was never made. SecretError if it cannot be read."""
    given = secrets.from_environment(environ, spec.variable)
    if given is not None:
        return given[0]
    shared = spec is secrets.PROXY_TOKEN
    folder = secrets.shared_dir(environ) if shared else secrets.data_dir(environ)
    try:
        return secrets.read_private(folder / spec.filename)
    except FileNotFoundError:
        return ""
    except PermissionError:
        raise secrets.SecretError(
            f"{folder / spec.filename} cannot be read by this user: run the doctor as root "
            "(docker compose exec hub hubdist doctor)"
        ) from None
