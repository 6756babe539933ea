"""Caddy's storage (the ``tls`` volume): certificates cut short are set aside.

Caddy writes a certificate as three files (.crt, .key, .json) without renaming them into
place, so a kill or a full disk in the middle of a renewal can leave one empty; Caddy then
refuses to start at all ("decoding certificate metadata: unexpected end of JSON input"),
and the hub is off the internet until someone deletes the right folder. The edge looks
before every start of Caddy and moves such a site's folder aside (kept, for a post-mortem):
Caddy then orders that certificate again, once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def set_aside_damaged(root: Path) -> list[Path]:
    """Move away every site folder under ``root``/certificates whose files cannot be read;
    the new names of those moved."""
    moved = []
    for site in sorted((root / "certificates").glob("*/*")):
        if not site.is_dir() or ".damaged-" in site.name or sound(site):
            continue
        target = site.with_name(f"{site.name}.damaged-{int(time.time())}")
        site.rename(target)
        moved.append(target)
    return moved


def sound(site: Path) -> bool:
    name = site.name
    try:
        json.loads((site / f"{name}.json").read_text())
        return all((site / f"{name}{suffix}").stat().st_size > 0 for suffix in (".crt", ".key"))
    except (OSError, ValueError):
        return False
