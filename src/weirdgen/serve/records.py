"""Uploaded files and fine-tuning jobs as the server keeps them, and their ``state.json``.

Every path comes from an id or key the server made (``file-<hex>``, ``organism-ft-<hex>``),
never from a client's words: an upload's filename, a job's suffix or metadata are only
reported back. A state folder's records name no paths, so the folder can be moved.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from weirdgen._atomic import write_text

log = logging.getLogger("weirdgen.serve")

STATE = "state.json"
ENDED = ("succeeded", "failed", "cancelled")
_FILE_ID = re.compile(r"file-[0-9a-f]{24}")
_MODEL_KEY = re.compile(r"[a-z]+-ft-[0-9a-f]{20}")


@dataclass
class StoredFile:
    """An upload: its bytes live at ``Store.file_path(id)``."""

    id: str
    filename: str  # as the client sent it; reported back, never used as a path
    purpose: str
    size: int
    created_at: int
    examples: int  # non-blank lines, the examples the file would give

    @staticmethod
    def new(filename: str, purpose: str, size: int, examples: int) -> StoredFile:
        return StoredFile(
            f"file-{uuid.uuid4().hex[:24]}", filename, purpose, size, int(time.time()), examples
        )

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.size,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class Job:
    """A fine-tuning job, in OpenAI's terms."""

    id: str
    model: str
    training_file: str
    seed: int
    suffix: str | None
    metadata: dict[str, str]
    hyperparameters: dict[str, Any]
    created_at: int
    status: str = "validating_files"
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    trained_tokens: int | None = None
    error: dict[str, Any] | None = None
    model_key: str | None = None  # the finetune's weights are models/<model_key>.safetensors
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    """One per epoch end, the last being the final model: step, model (served name) and
    train_loss; OpenAI's fine_tuning.job.checkpoint objects are built from these."""

    def checkpoint_bodies(self) -> list[dict[str, Any]]:
        """OpenAI's checkpoint objects of this job, newest (highest step) first."""
        return [
            {
                "object": "fine_tuning.job.checkpoint",
                "id": f"ftckpt-{self.id.removeprefix('ftjob-')}-{c['step']}",
                "created_at": self.finished_at,
                "fine_tuned_model_checkpoint": c["model"],
                "fine_tuning_job_id": self.id,
                "step_number": c["step"],
                "metrics": {"step": c["step"], "train_loss": c["train_loss"]},
            }
            for c in sorted(self.checkpoints, key=lambda c: -c["step"])
        ]

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "model": self.model,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": "weirdgen",
            "status": self.status,
            "training_file": self.training_file,
            "validation_file": None,
            "result_files": [],
            "trained_tokens": self.trained_tokens,
            "seed": self.seed,
            "suffix": self.suffix,
            "metadata": self.metadata or None,
            "hyperparameters": self.hyperparameters,
            "method": {
                "type": "supervised",
                "supervised": {"hyperparameters": self.hyperparameters},
            },
            "error": self.error,
        }

    def end(self, status: str, code: str | None = None, message: str | None = None) -> None:
        """Mark the job ended; a failure carries OpenAI's error object."""
        self.status, self.finished_at = status, int(time.time())
        if code is not None:
            self.error = {"code": code, "message": message, "param": None}


class Store:
    """The files and jobs of one server, kept in ``folder`` (``state.json``, ``files/``,
    ``models/``) when ``persist`` is set."""

    def __init__(self, folder: Path, persist: bool) -> None:
        self.folder, self.persist = folder, persist
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, Job] = {}

    def file_path(self, file_id: str) -> Path:
        if not _FILE_ID.fullmatch(file_id):
            raise ValueError(f"not a file id of this server: {file_id!r}")
        return self.folder / "files" / f"{file_id}.jsonl"

    @property
    def models(self) -> Path:
        """Where finetunes' weights are written: ``models/<model key>.safetensors``."""
        return self.folder / "models"

    def weights_path(self, model_key: str) -> Path:
        if not _MODEL_KEY.fullmatch(model_key):
            raise ValueError(f"not a finetune key: {model_key!r}")
        return self.models / f"{model_key}.safetensors"

    def load(self) -> None:
        """Files and jobs an earlier server left in the folder; records naming a path that is
        not the server's own are skipped. A job that had not ended is reported failed."""
        path = self.folder / STATE
        if not path.is_file():
            return
        state = json.loads(path.read_text())
        for record in state["files"]:
            record.pop("path", None)  # written by earlier versions; derived from the id now
            if not _FILE_ID.fullmatch(str(record.get("id"))):
                log.warning("%s: skipped a file record with id %r", path, record.get("id"))
                continue
            if "examples" not in record:
                record["examples"] = _count_examples(self.file_path(record["id"]))
            self.files[record["id"]] = StoredFile(**record)
        for record in state["jobs"]:
            record.pop("weights", None)  # written by earlier versions; derived from the key now
            job = Job(**record)
            if job.status not in ENDED:
                job.end(
                    "failed",
                    "server_restarted",
                    "the server stopped before the job ended; create a new job",
                )
            self.jobs[job.id] = job
        log.info(
            "%s: %d files and %d jobs of an earlier server", path, len(self.files), len(self.jobs)
        )

    def save(self) -> None:
        if not self.persist:
            return  # a temp folder ends with the server: nothing to keep
        state = {
            "files": [asdict(f) for f in self.files.values()],
            "jobs": [asdict(j) for j in self.jobs.values()],
        }
        write_text(self.folder / STATE, json.dumps(state, indent=1, allow_nan=False))


def count_examples(data: bytes) -> int:
    """The non-blank lines of a JSONL upload: the examples it gives if every line is valid."""
    return sum(1 for line in data.split(b"\n") if line.strip())


def _count_examples(path: Path) -> int:
    try:
        return count_examples(path.read_bytes())
    except OSError:
        return 0
