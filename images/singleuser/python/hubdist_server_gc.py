"""Fewer garbage collections in a Jupyter server process, most of all while it starts.

A JupyterLab server imports some 1,500 modules as it starts, and CPython's collector, run
every 700 new container objects by default, goes over the young objects thousands of times
meanwhile and finds almost nothing to free: modules, classes and functions live as long as
the process. That is about a tenth of the start's CPU. Loaded by ``hubdist-startup.pth``
at interpreter start, this raises the first threshold for the server programs only;
kernels, terminals' commands and users' own scripts keep Python's defaults. Cycles of
garbage are still collected, a little later.
"""

from __future__ import annotations

import gc
import os
import sys

SERVER_PROGRAMS = {"jupyterhub-singleuser", "jupyter-lab", "jupyter-server", "jupyter-labhub"}
THRESHOLDS = (50_000, 10, 10)  # new objects before a young collection; Python's: 700


def is_server() -> bool:
    """Is this process one of the server programs (not a kernel, terminal or script)?"""
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return program in SERVER_PROGRAMS


def tune() -> None:
    if is_server() and gc.get_threshold()[0] < THRESHOLDS[0]:
        gc.set_threshold(*THRESHOLDS)


tune()
