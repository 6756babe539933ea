"""Edit an installed package's files at image build, each edit matching exactly once.

The edit scripts beside this one say what they change and why; docs/performance.md lists
them. An edit that does not match (another version of the package) fails the build with
what to look at, rather than ship an image that is silently slower or different.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: (file in the package, text as the package has it, text as the image has it)
Edit = tuple[str, str, str]


def fail(script: str, message: str, package: str, installed: str) -> None:
    sys.exit(
        f"{Path(script).name}: {message}\nThese edits were written for the files of another "
        f"version of {package} than the one installed ({installed}). If this version no "
        f"longer needs them, drop the step that runs {Path(script).name} from the "
        "Dockerfiles; otherwise update the edits to its files."
    )


def apply(package_dir: Path, edits: list[Edit], script: str, on_error) -> None:
    """Make every edit to the files of ``package_dir``; ``on_error(message)`` if one does not
    match exactly once (nothing is written then). Each edited file starts with a line saying
    so (the licences of the edited projects ask for it), and each change is marked
    "hubdist:" in a comment."""
    texts: dict[str, str] = {}
    for name, old, new in edits:
        text = texts.setdefault(name, (package_dir / name).read_text())
        if text.count(old) != 1:
            on_error(f"{package_dir.name}/{name} has {text.count(old)} copies, not 1, of:\n{old}")
        texts[name] = text.replace(old, new)
    notice = (
        f"# Changed by hubdist's image build ({Path(script).name}, in /usr/share/hubdist/"
        "edits/): each change is marked 'hubdist:'.\n"
    )
    for name, text in texts.items():
        (package_dir / name).write_text(notice + text)


def run_python(code: str, on_error) -> str:
    """Run ``code`` in a fresh interpreter (what a new process loads) and return its output."""
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if probe.returncode:
        on_error(f"the edited package does not work:\n{probe.stderr}")
    return probe.stdout
