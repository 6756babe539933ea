"""Names for Docker objects that are always valid, never collide and stay short enough.

Escaping follows dockerspawner 12+ so that existing deployments find their containers and
volumes again: every byte outside ``[a-z0-9]`` becomes ``-`` and two hex digits. Two things
differ on purpose: server names keep their case before escaping ("Foo" and "foo" are two
servers, so they get two containers), and a name too long for its kind is shortened with a
stable hash suffix so that it is still unique (and, for containers and services, still
resolvable on a Docker network).

Why no two users can ever share a name (the property tests check it for every scheme):
escaping is one-to-one, a name shorter than its limit is used as it is, and a shortened name
is always exactly ``limit`` characters long. So a shortened name never equals a name that was
not shortened, whatever characters a user chooses, and two shortened names are equal only if
their heads and the first 64 bits of the SHA-256 of their full names are. (Shortening to a
shorter length with a 40-bit hash, as hubdist 0.1 did, let a user pick a short name that
escaped to another user's shortened one.)
"""

from __future__ import annotations

import hashlib
import os
import re
import string

import escapism

#: Prefix of the labels on everything hubdist makes in Docker.
LABEL = "org.jupyter.hubdist"
#: The label every user's container and service carries: one filter finds them all.
MANAGED = {f"{LABEL}.managed": "true"}

#: Longest name that is still one DNS label (containers and services are found by name).
DNS_LABEL_MAX = 63
#: Longest volume name the engine accepts (a directory name under /var/lib/docker/volumes).
VOLUME_NAME_MAX = 255
#: Hex digits of the hash that ends a shortened name (64 bits: no second preimage is found).
HASH_DIGITS = 16

_SAFE = set(string.ascii_lowercase + string.digits)
_LEGACY_SAFE = set(string.ascii_letters + string.digits + "-")
_REPAIR_SAFE = set(string.ascii_letters + string.digits + "_.")
_DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def escape(text: str) -> str:
    """Escape to the DNS-label alphabet, dockerspawner's default scheme (``A`` -> ``-41``)."""
    return escapism.escape(text, safe=_SAFE, escape_char="-").lower()


def legacy_escape(text: str) -> str:
    """dockerspawner's pre-12 scheme (``escape = "legacy"``): keeps case, ``_`` escapes."""
    return escapism.escape(text, safe=_LEGACY_SAFE, escape_char="_")


def image_slug(image: str) -> str:
    """``{imagename}``: the image reference with ``/`` and ``:`` turned into ``-``."""
    return image.replace("/", "-").replace(":", "-")


def bounded(name: str, limit: int = DNS_LABEL_MAX) -> str:
    """``name`` if it is shorter than ``limit``, else ``HEAD-HASH`` exactly ``limit`` long.

    Names shorter than the limit come back unchanged, so short names match dockerspawner's
    (and volume names, bounded at the engine's 255, match every earlier release's).
    """
    if len(name) < limit:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:HASH_DIGITS]
    return f"{name[: limit - HASH_DIGITS - 1]}-{digest}"


def was_shortened(name: str, limit: int = DNS_LABEL_MAX) -> bool:
    """True for a name :func:`bounded` would shorten: objects found by such a name are
    trusted only by their labels (see hubdist.spawners.ownership)."""
    return len(name) >= limit


def volume_name(rendered: str) -> str:
    """A rendered named-volume source, bounded at the engine's limit (nothing else changes:
    volumes that exist keep their names)."""
    return bounded(rendered, VOLUME_NAME_MAX)


def object_name(rendered: str, limit: int = DNS_LABEL_MAX) -> str:
    """Make a rendered ``name_template`` a valid Docker object name of bounded length.

    Docker names must start with a letter or digit and use ``[a-zA-Z0-9_.-]``; DNS labels
    must not end with ``-``. Anything else would be rejected by the engine at create time,
    so it is repaired here with an ``x`` in front and escaping of the rest.
    """
    name = rendered
    if not _DOCKER_NAME.match(name):
        name = "x" + escapism.escape(name, safe=_REPAIR_SAFE, escape_char="-")
    if name.endswith("-"):  # a DNS label must not end with "-" (a shortened name ends in hex)
        name += "x"
    return bounded(name, limit)


class UnsafePathError(ValueError):
    """A host path rendered from a template escapes the directory it was meant to stay in."""


def check_host_path(template: str, rendered: str) -> str:
    """Refuse a rendered host path whose user-controlled parts climb out of its directory.

    ``/home/{raw_username}`` with the username ``../etc`` must not become ``/etc``. The check
    compares the rendered path, normalised, with the fixed prefix of the template (the part
    before the first ``{``).
    """
    if not rendered.startswith("/"):
        return rendered  # a named volume, not a host path
    fixed = template.split("{", 1)[0]
    normal = os.path.normpath(rendered)
    base = os.path.normpath(fixed) if fixed else "/"
    # strictly below the fixed part: a name "." must not mount the whole base directory
    inside = normal.startswith(base.rstrip("/") + "/") or (normal == base and fixed == template)
    climbs = any(part in (".", "..") for part in rendered.split("/")) and not any(
        part in (".", "..") for part in template.split("/")
    )
    if climbs or not inside:
        raise UnsafePathError(
            f"host path {rendered!r} (from {template!r}) leaves {base!r}; "
            "a user or server name must not contain path components such as '..'"
        )
    return rendered
