"""Which images a user may choose, and the form that offers them.

Deny by default (dockerspawner advisory GHSA-hfgr-h3vc-p6c2): with ``allowed_images`` empty a
user may not pick an image at all; ``"*"`` allows any. The form lists the choices as real
``<option>`` elements (dockerspawner 14 renders a Python list repr inside its ``<select>``).
"""

from __future__ import annotations

from html import escape as html_escape
from typing import Any

ANY_IMAGE = "*"

# hubdist's images are built on the machine (docker compose build, `hubdist images build`)
# and published nowhere: on Docker Hub this namespace is not ours, so a pull would run
# whatever someone else put there.
LOCAL_NAMESPACES = ("hubdist/",)
DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")


def built_locally(image: str) -> bool:
    """True for a name of hubdist's own images, which must never be pulled: a Docker Hub
    reference (no registry host, or docker.io) in the ``hubdist/`` namespace."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        if first not in DOCKER_HUB:
            return False  # a registry of its own, e.g. registry.example.org/hubdist/...
        image = rest
    return image.startswith(LOCAL_NAMESPACES)


def normalize_allowed(value: Any, spawner: Any) -> dict[str, str] | str:
    """``allowed_images`` as ``{label: image}``, or ``"*"``. A callable gets the spawner."""
    if callable(value):
        value = value(spawner)
    if value == ANY_IMAGE:
        return ANY_IMAGE
    if not value:
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return {str(v): str(v) for v in value}
    raise TypeError(
        f"allowed_images must be a list, a dict, '*' or a callable returning one; got {value!r}"
    )


class ImageNotAllowed(ValueError):
    """The requested image is not one the user may choose."""


def resolve_image(requested: Any, allowed: dict[str, str] | str) -> str:
    """The image to run for ``user_options["image"]``, or :class:`ImageNotAllowed`."""
    if not isinstance(requested, str) or not requested.strip():
        raise ImageNotAllowed(f"user_options 'image' must be a non-empty string, got {requested!r}")
    if allowed == ANY_IMAGE:
        return requested
    if not allowed:
        raise ImageNotAllowed(
            "choosing an image is not allowed here: the administrator has not set "
            "allowed_images (remove 'image' from the options)"
        )
    if requested in allowed:
        return allowed[requested]
    if requested in allowed.values():
        return requested
    choices = ", ".join(sorted(allowed))
    raise ImageNotAllowed(f"image {requested!r} is not allowed; choose one of: {choices}")


def options_form(allowed: dict[str, str] | str, current: str) -> str:
    """A ``<select>`` of the allowed images, or ``""`` when there is nothing to choose."""
    if allowed == ANY_IMAGE or len(allowed) < 2:
        return ""
    options = []
    for label, image in allowed.items():
        selected = " selected" if image == current or label == current else ""
        options.append(
            f'<option value="{html_escape(label)}"{selected}>{html_escape(label)}</option>'
        )
    return (
        '<label for="hubdist-image" class="form-label">Image</label>\n'
        '<select class="form-select" name="image" id="hubdist-image" required autofocus>\n'
        + "\n".join(options)
        + "\n</select>"
    )


def options_from_form(formdata: dict[str, list[str]]) -> dict[str, str]:
    """Form fields (lists of strings) to ``user_options``; only ``image`` is ours."""
    options = {}
    if formdata.get("image"):
        options["image"] = formdata["image"][0]
    return options
