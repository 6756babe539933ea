"""What the edge serves, in a small file the hub reads (a volume they share, read-only for
the hub): its log at start and ``hubdist config show`` say which certificate is served and
when it expires, and what went wrong with the last order."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STATUS_FILE_VARIABLE = "HUBDIST_TLS_STATUS_FILE"
DEFAULT_STATUS_FILE = "/run/hubdist-tls/status.json"


def write(path: Path, **fields: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps({**fields, "updated": int(time.time())}, indent=1))
    os.replace(temporary, path)  # readers never see half a file


def read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def describe(status: dict[str, Any] | None, domain: str) -> list[str]:
    """Lines for a person: what is served for ``domain`` and what to look at."""
    if status is None:
        return [f"HTTPS for {domain}: the edge has reported nothing yet (docker compose logs edge)"]
    lines = []
    serving = status.get("serving")
    if serving:
        kind = "TEMPORARY self-signed certificate" if serving.get("temporary") else "certificate"
        lines.append(
            f"HTTPS for {domain}: {kind} from {serving.get('issuer')}, valid until "
            f"{serving.get('not_after')} (renewal from {serving.get('renews_from')})"
        )
    else:
        lines.append(f"HTTPS for {domain}: no certificate served yet")
    if status.get("problem"):
        lines.append(f"  last problem: {status['problem']}")
    return lines


def for_hub(environ: Mapping[str, str]) -> tuple[dict[str, Any] | None, list[str]]:
    """The edge's status and its lines, as the hub sees them; (None, []) without HTTPS."""
    domain = environ.get("HUBDIST_DOMAIN", "").strip()
    if not domain:
        return None, []
    found = read(Path(environ.get(STATUS_FILE_VARIABLE) or DEFAULT_STATUS_FILE))
    return found, describe(found, domain)
