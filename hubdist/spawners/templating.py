"""Template rendering for names, volumes, mounts and the ``extra_*`` pass-throughs.

The placeholders are dockerspawner's: ``{username}`` (escaped), ``{safe_username}``,
``{raw_username}``, ``{servername}`` (escaped), ``{raw_servername}``, ``{imagename}``,
``{prefix}``, plus JupyterHub's ``{base_url}``; and hubdist's ``{servername_suffix}``: nothing
for the default server, ``--`` and the escaped name for a named one, so that one volume
template gives the default server the name it always had and each named server its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..names import check_host_path, volume_name


def render(obj: Any, namespace: Mapping[str, str]) -> Any:
    """Format every string key and value in a nested structure.

    A string that is not a valid template for this namespace (``{"a": 1}`` as JSON text,
    an unknown placeholder) is left as it is, so pass-through dicts can hold any literal.
    """
    if isinstance(obj, str):
        try:
            return obj.format(**namespace)
        except (KeyError, IndexError, ValueError, AttributeError):
            return obj
    if isinstance(obj, dict):
        return {render(k, namespace): render(v, namespace) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(render(v, namespace) for v in obj)
    return obj


def deep_merge(base: dict, extra: Mapping) -> dict:
    """``base`` updated with ``extra``; nested dicts merge instead of being replaced."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


FormatVolume = Callable[[str, Any], str]


def volume_binds(
    volumes: Mapping[str, Any],
    read_only_volumes: Mapping[str, Any],
    format_name: FormatVolume,
    spawner: Any,
) -> dict[str, dict[str, str]]:
    """``volumes`` and ``read_only_volumes`` as docker-py binds: ``{source: {bind, mode}}``.

    Sources and targets are templates. A source starting with ``/`` is a host path and is
    checked so that no user or server name can move it out of its directory; anything else
    is a named volume.
    """
    binds: dict[str, dict[str, str]] = {}
    for spec, force_ro in ((volumes, False), (read_only_volumes, True)):
        for source, target in spec.items():
            entry = dict(target) if isinstance(target, Mapping) else {"bind": target}
            entry.setdefault("mode", "rw")
            if force_ro:
                entry["mode"] = "ro"
            entry["bind"] = format_name(entry["bind"], spawner)
            binds[_source(source, format_name, spawner)] = entry
    return binds


def render_mounts(mounts: list[dict], format_name: FormatVolume, spawner: Any) -> list[dict]:
    """``mounts`` with every string field templated (docker.types.Mount keyword arguments)."""
    rendered = []
    for mount in mounts:
        item = {k: format_name(v, spawner) if isinstance(v, str) else v for k, v in mount.items()}
        if item.get("type", "volume") == "bind" and "source" in item:
            check_host_path(mount["source"], item["source"])
        elif item.get("type", "volume") == "volume" and isinstance(item.get("source"), str):
            item["source"] = volume_name(item["source"])
        rendered.append(item)
    return rendered


def _source(template: str, format_name: FormatVolume, spawner: Any) -> str:
    """A bind's source: a host path checked to stay in its directory, or a volume name
    bounded at the engine's limit."""
    rendered = format_name(template, spawner)
    if template.startswith("/"):
        return check_host_path(template, rendered)
    return volume_name(rendered)


USER_FIELDS = ("{username}", "{raw_username}", "{safe_username}")
SERVER_FIELDS = ("{servername}", "{raw_servername}")
#: names the server only when it has a name (the default server's volume stays the user's)
SUFFIX_FIELD = "{servername_suffix}"


def _volume_templates(volumes: Mapping[str, Any], read_only_volumes, mounts) -> list[str]:
    """Every named-volume source template (host paths left out)."""
    templates = [*volumes, *read_only_volumes] + [
        m["source"]
        for m in mounts
        if m.get("type", "volume") == "volume" and isinstance(m.get("source"), str)
    ]
    return [t for t in templates if not t.startswith("/")]


def volume_owners(
    volumes: Mapping[str, Any],
    read_only_volumes: Mapping[str, Any],
    mounts: list[dict],
    format_name: FormatVolume,
    spawner: Any,
) -> dict[str, tuple[bool, bool]]:
    """Each named volume of this server: (names the user, names the server), read from its
    template. A volume that names the user is the user's (labelled and checked as such);
    one that names neither is shared by everyone."""
    owners: dict[str, tuple[bool, bool]] = {}
    for template in _volume_templates(volumes, read_only_volumes, mounts):
        name = volume_name(format_name(template, spawner))
        user = any(f in template for f in USER_FIELDS)
        server = any(f in template for f in SERVER_FIELDS)
        server = server or (SUFFIX_FIELD in template and bool(spawner.name))
        before = owners.get(name, (False, False))
        owners[name] = (before[0] or user, before[1] or server)
    return owners


def own_volume_names(owners: Mapping[str, tuple[bool, bool]], named_server: bool) -> list[str]:
    """The named volumes only this server uses, judged by their name templates (``owners``
    from :func:`volume_owners`).

    A named server owns the volumes whose template names the server; the default server
    (deleted only with its user) owns those that name the user. Host paths are never ours
    to delete, and a template that names neither is shared.
    """
    return [
        name
        for name, (names_user, names_server) in owners.items()
        if names_server or (names_user and not named_server)
    ]
