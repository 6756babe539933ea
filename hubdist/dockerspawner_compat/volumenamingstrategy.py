"""dockerspawner's volume naming strategies (``format_volume_name``), under their names."""

from __future__ import annotations

from ..spawners.base import default_format_volume_name


def escaped_format_volume_name(template: str, spawner) -> str:
    """dockerspawner's strategy for user names with characters a volume name cannot have.
    hubdist's ``{username}`` is always the escaped name, so this is the default strategy."""
    return default_format_volume_name(template, spawner)


__all__ = ["default_format_volume_name", "escaped_format_volume_name"]
