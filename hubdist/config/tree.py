"""Walking a traitlets Config: the key paths to its values, which keys are sections, which
values are unset or secret."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from traitlets.config import Config, LazyConfigValue

KeyPath = tuple[str, ...]  # ("DockerSpawner", "image"): the keys to a value in a Config


# -- secrets ----------------------------------------------------------------------------------

# client_secret, cookie_secret, api_token(s), auth_token, *password, CryptKeeper.keys, ...
_SECRET = re.compile(r"secret|token|passw|crypt|credential|private|(^|_)keys?$", re.IGNORECASE)
# ... but not where such a name only points at one: a file, a URL, the variable holding it
_NOT_SECRET = re.compile(r"_(file|path|url|env|groups_key)$", re.IGNORECASE)


def looks_secret(name: str) -> bool:
    """True for option or dict key names whose values must never be printed."""
    return bool(_SECRET.search(name)) and not _NOT_SECRET.search(name)


# -- walking a Config ---------------------------------------------------------------------------


def is_section(key: str) -> bool:
    """traitlets' rule: capitalised keys are classes, the others options."""
    return bool(key) and key[0].isupper() and not key.startswith("_")


def is_unset(value: Any) -> bool:
    """A lazy value that only reading ``c.Class.option`` made: it changes nothing."""
    return isinstance(value, LazyConfigValue) and not value.to_dict()


def leaves(config: Mapping[str, Any], path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """Every value in ``config`` with its path, sections included in the path."""
    for key, value in config.items():
        if isinstance(value, Config):
            yield from leaves(value, (*path, key))
        else:
            yield (*path, key), value
