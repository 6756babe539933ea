"""Whose is a Docker object found by name: asked before anything found by name is reused,
started, stopped, removed or mounted.

Names are unique per user and server (hubdist.names), but an admin's template, legacy
escaping or another deployment on the same engine can still make two servers want one
name. The labels decide: an object whose labels name another user, server or deployment
is never touched, and the spawn fails saying so. Objects without hubdist's labels (volumes
the engine made on first mount, containers of hubdist 0.1 or of dockerspawner) are
adopted only when the hub's database recorded them or their name is exactly the expected,
unshortened one.
"""

from __future__ import annotations

from typing import Any

from .. import names

USER = f"{names.LABEL}.user"
SERVER = f"{names.LABEL}.server"
DEPLOYMENT = f"{names.LABEL}.deployment"
#: The volume that tells which deployment uses a prefix on an engine
CLAIM = f"{names.LABEL}.claim"


def labels(user: str, server: str | None, deployment: str) -> dict[str, str]:
    """The labels of an object made for ``user`` (and ``server``, unless None: a volume
    shared by all of a user's servers names no server)."""
    made = {**names.MANAGED, USER: user, DEPLOYMENT: deployment}
    if server is not None:
        made[SERVER] = server
    return made


def made_by_hubdist(found: dict | None) -> bool:
    """Whether an object with labels ``found`` was made by hubdist (any release); an
    object the hub adopted from dockerspawner's database carries none of its labels."""
    return USER in (found or {})


def foreign(found: dict | None, ours: dict[str, str], *, recorded: bool, exact: bool) -> str:
    """Why an object with labels ``found`` is not ours (labels ``ours``); "" if it is.

    ``recorded``: the hub's database named this object (by id); ``exact``: it was found by
    the expected name, not a shortened one.
    """
    found = found or {}
    trusted_anyway = recorded or exact
    if USER not in found:
        if trusted_anyway:
            return ""
        return "it was not made by hubdist and its name was shortened, so it may be anyone's"
    for key, what in ((USER, "user"), (SERVER, "server")):
        if key in ours and found.get(key) != ours[key]:
            return f"its labels say it belongs to another {what}'s server"
    if DEPLOYMENT not in found:  # made by hubdist 0.1
        return "" if trusted_anyway else "it was made by an older hubdist under another name"
    if found[DEPLOYMENT] != ours[DEPLOYMENT]:
        return f"it belongs to another hubdist deployment ({found[DEPLOYMENT]!r})"
    return ""


async def claim(engine: Any, prefix: str, deployment: str) -> str:
    """Claim ``prefix`` on ``engine`` for ``deployment`` (a labelled volume); why it cannot
    be ("" if it can: unclaimed, or this deployment's already)."""
    name = claim_volume(prefix)
    found = await engine.inspect_volume(name)
    if found is None:
        found = await engine.create_volume(name, {CLAIM: "true", DEPLOYMENT: deployment})
    return claim_conflict(found.get("Labels"), prefix, deployment)


def claim_conflict(found: dict | None, prefix: str, deployment: str) -> str:
    """Why this deployment may not use ``prefix`` (the claim volume has labels ``found``)."""
    other = (found or {}).get(DEPLOYMENT, "")
    if not other or other == deployment:
        return ""
    return (
        f"Another hubdist deployment, {other!r}, already uses the name prefix {prefix!r} on "
        "this Docker engine; two deployments with one prefix would share users' containers "
        f"and volumes. Give this deployment ({deployment!r}) its own prefix "
        "(HUBDIST_PREFIX in .env, or c.DockerSpawner.prefix), or, if the other deployment is "
        f"gone for good, remove its claim: docker volume rm {claim_volume(prefix)}"
    )


def claim_volume(prefix: str) -> str:
    """Name of the claim volume; no escaped user name can spell it (no "." in escapes)."""
    return names.volume_name(f"{prefix}.hubdist-deployment")
