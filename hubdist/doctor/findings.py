"""What a check reports, how the checks are run, and how their findings are shown."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..engine.client import EngineError, EngineUnavailable

if TYPE_CHECKING:
    from ..engine import Engine
    from .deployment import Deployment

OK, WARNING, PROBLEM, SKIPPED = "ok", "warning", "problem", "skipped"
#: only problems make ``hubdist doctor`` exit non-zero; a warning is worth reading
FAILING = (PROBLEM,)


@dataclass(frozen=True)
class Finding:
    check: str  # the check's name, e.g. "images"
    status: str  # OK, WARNING, PROBLEM or SKIPPED
    message: str  # what was found
    advice: str = ""  # what to do about it (for anything but OK)

    @property
    def failing(self) -> bool:
        return self.status in FAILING


#: a check: looks at one part of the deployment through the engine (and what the
#: deployment's settings say), returns one finding or more; see hubdist.doctor.CHECKS
Check = Callable[["Deployment", "Engine"], Awaitable[list[Finding]]]


async def run_checks(checks: Sequence[Check], deployment: Deployment, engine: Engine):
    """Every check's findings, in order; a check that fails is itself a finding."""
    findings: list[Finding] = list(deployment.findings)  # found while discovering it
    for check in checks:
        name = getattr(check, "check_name", check.__name__)
        try:
            findings += await check(deployment, engine)
        except EngineUnavailable as exc:
            advice = "see the engine check above"
            findings.append(Finding(name, SKIPPED, f"the engine cannot be asked: {exc}", advice))
        except EngineError as exc:
            advice = "run it again; if it stays, see: journalctl -u docker (or dockerd's log)"
            findings.append(Finding(name, PROBLEM, f"the engine failed a request: {exc}", advice))
    return findings


def named(name: str) -> Callable[[Check], Check]:
    """Give a check the name its findings carry when it fails as a whole."""

    def mark(check: Check) -> Check:
        check.check_name = name  # type: ignore[attr-defined]
        return check

    return mark


def to_json(findings: Sequence[Finding]) -> str:
    failing = [f for f in findings if f.failing]
    return json.dumps({"ok": not failing, "findings": [asdict(f) for f in findings]}, indent=2)


WIDTH = 100
_MARK = {OK: "ok", WARNING: "WARNING", PROBLEM: "PROBLEM", SKIPPED: "skipped"}


def to_text(findings: Sequence[Finding]) -> str:
    """One line a finding; advice indented under anything that is not OK; a summary."""
    width = max((len(f.check) for f in findings), default=0)
    indent = " " * (8 + 1 + width + 2)
    lines = []
    for f in findings:
        head = f"{_MARK[f.status]:<8} {f.check:<{width}}  "
        lines.append(textwrap.fill(f.message, WIDTH, initial_indent=head, subsequent_indent=indent))
        if f.advice and f.status != OK:
            lines.append(
                textwrap.fill(
                    f.advice, WIDTH, initial_indent=indent + "-> ", subsequent_indent=indent + "   "
                )
            )
    problems = sum(f.failing for f in findings)
    warnings = sum(f.status == WARNING for f in findings)
    if problems:
        lines.append(f"{problems} problem(s), {warnings} warning(s): see the advice above")
    else:
        lines.append(f"no problems ({warnings} warning(s))")
    return "\n".join(lines)
