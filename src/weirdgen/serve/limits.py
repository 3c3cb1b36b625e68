"""How much one server takes on: its connections, the bounds of uploads, stored files and
jobs, and of a job's training, each a ``weirdgen serve`` flag.

The defaults sit far above normal use (the organism trains 100 examples x 3 epochs in about a
second) and below what ties the server up for hours or fills its memory or disk. A request
over a limit gets an HTTP 400 (413 for an upload) naming the field, the limit and the fix.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MB = 1024**2


class FineTuningLimits(BaseModel):
    """Bounds of the fine-tuning endpoints; each field has a ``weirdgen serve`` flag (FLAGS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    upload_bytes: int = Field(50 * MB, ge=1, description="Largest file /v1/files takes.")
    files: int = Field(1000, ge=1, description="Most uploaded files kept at once.")
    stored_bytes: int = Field(
        1024 * MB,
        ge=1,
        description="Most uploaded data kept at once, uploads under way included.",
    )
    checks: int = Field(
        2,
        ge=1,
        description="Most uploads checked at once (checks share one core, Python's GIL, with "
        "the answers; more uploads wait their turn on disk).",
    )
    jobs: int = Field(1000, ge=1, description="Most fine-tuning jobs kept, in any state.")
    examples: int = Field(50_000, ge=1, description="Most examples in a training file.")
    n_epochs: int = Field(100, ge=1, description="Largest n_epochs of a job.")
    batch_size: int = Field(256, ge=1, description="Largest batch_size of a job.")
    learning_rate_multiplier: float = Field(
        100.0, gt=0, description="Largest learning_rate_multiplier of a job."
    )
    trained_examples: int = Field(
        1_000_000,
        ge=1,
        description="Most examples x n_epochs in one job: the bound on its training time "
        "(1 to 1.5 ms an example on one CPU core at the default batch size).",
    )


class ServerLimits(BaseModel):
    """Bounds of the server's connections; each field has a ``weirdgen serve`` flag (FLAGS).

    A client that opens connections and never finishes a request's headers (slowloris) would
    otherwise hold the server's open files until none are left for anyone else.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    header_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a new connection has to send its first request's headers; then it "
        "is closed.",
    )
    connections: int = Field(
        1000,
        ge=1,
        description="Most open connections; past it a new connection closes the one that has "
        "waited longest outside a request.",
    )


FLAGS = {
    "header_timeout": "--header-timeout",
    "connections": "--max-connections",
    "upload_bytes": "--max-upload-mb",
    "files": "--max-files",
    "stored_bytes": "--max-stored-mb",
    "checks": "--max-concurrent-checks",
    "jobs": "--max-jobs",
    "examples": "--max-examples",
    "n_epochs": "--max-n-epochs",
    "batch_size": "--max-batch-size",
    "learning_rate_multiplier": "--max-learning-rate-multiplier",
    "trained_examples": "--max-trained-examples",
}
"""The ``weirdgen serve`` flag that raises each limit."""
