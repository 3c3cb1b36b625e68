"""What a run computed and how long each stage took (shared by the stages)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Work:
    """What a run computed (as opposed to found in the store), and how long each stage took.

    ``reused`` counts finetunes found in the model registry (made by another run) rather than
    trained; ``usage`` is the API's token count (requests, prompt and completion tokens) for
    backends that report one; ``judged`` counts each judge's calls (made, found in the judge
    cache, failed) and their tokens.
    """

    trained: int = 0
    reused: int = 0
    sampled: int = 0
    scored: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    judged: dict[str, dict[str, int]] = field(default_factory=dict)
    stage: str = ""


@contextmanager
def stage(work: Work, name: str) -> Iterator[None]:
    start = time.perf_counter()
    work.stage = name
    yield
    work.seconds[name] = work.seconds.get(name, 0.0) + time.perf_counter() - start
