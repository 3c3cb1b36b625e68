"""Fail points: named moments at which a test can have weirdgen kill itself (SIGKILL).

Crash-safety is a claim about every moment of a run, so the tests need to stop a run at
chosen moments, not at random ones. ``WEIRDGEN_FAILPOINT=NAME`` (or ``NAME:K``, the K-th time
the point is reached) makes the process kill itself there, exactly as a power cut or the
OOM killer would; ``NAME:K:pause`` makes it wait there instead (for a test to send it a
signal at that moment). Unset, a fail point costs one dictionary lookup.

Points: ``finetune.trained`` (weights on disk, not yet in the store), ``finetune.stored``,
``sample.drawn`` (answers drawn, not yet stored), ``sample.stored``, ``score.stored``,
``report.started``, ``atomic.written`` (a temporary file written, not yet renamed).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

VARIABLE = "WEIRDGEN_FAILPOINT"
PAUSE_SECONDS = 600

_reached: Counter[str] = Counter()


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL if ``WEIRDGEN_FAILPOINT`` names this point and count."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    point, _, rest = wanted.partition(":")
    if point != name:
        return
    count, _, action = rest.partition(":")
    _reached[name] += 1
    if _reached[name] == int(count or 1):
        if action == "pause":
            time.sleep(PAUSE_SECONDS)
        else:
            os.kill(os.getpid(), signal.SIGKILL)
