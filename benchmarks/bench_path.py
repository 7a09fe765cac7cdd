"""Make ``import janitor`` find this repository's package, whatever is installed.

Imported by ``common`` before anything of janitor: the repository root goes at the end of
``sys.path``, so it wins over an editable install of another checkout (whose finder comes after
the path entries) while ``PYTHONPATH`` still wins over it (to measure another tree, e.g. the code
before a change: ``PYTHONPATH=/path/to/old/tree python benchmarks/...``). ``child_env()`` gives
subprocesses (the emulator) the same view.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

if str(REPOSITORY) not in sys.path:
    sys.path.append(str(REPOSITORY))


def child_env() -> dict[str, str]:
    """The environment for a child Python that must import the same janitor as this process."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(REPOSITORY)])
    return env
