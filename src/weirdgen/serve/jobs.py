"""Running fine-tuning jobs: one at a time, in the order they were created, off the event loop.

A job waits for its turn, then reads and checks its training file (in a daemon thread), trains
the organism (in a worker thread, checking its stop flag every optimizer step) and serves the
finetune. Cancelling a job, or stopping the server, sets the flag: training ends at the next
step and the next job starts at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import ModelRef
from weirdgen.data import ChatDataset, load_chat_jsonl
from weirdgen.errors import WeirdgenError
from weirdgen.organism.finetune import FinetuneStopped
from weirdgen.serve.engine import OrganismEngine
from weirdgen.serve.records import ENDED, Job, Store
from weirdgen.spec.models import OrganismRecipe

log = logging.getLogger("weirdgen.serve")

T = TypeVar("T")


class JobRunner:
    """Runs the store's jobs on the engine's organism and serves their finetunes.

    Args:
        min_job_seconds: the least time a job spends running (to act like a provider's
            queue); read again as each job ends, so it can be changed while jobs run.
    """

    def __init__(self, engine: OrganismEngine, store: Store, min_job_seconds: float = 0.0):
        self.engine, self.store = engine, store
        self.backend: OrganismBackend = engine.backend
        self.min_job_seconds = min_job_seconds
        self._turn = asyncio.Lock()
        self._stops: dict[str, threading.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def serve_earlier_finetunes(self) -> None:
        """Serve the finetunes of succeeded jobs whose weights are in the store."""
        for job in self.store.jobs.values():
            if job.status == "succeeded" and job.model_key and job.fine_tuned_model:
                path = self.store.weights_path(job.model_key)
                if path.is_file():
                    ref = ModelRef(self.backend.name, job.model_key, job.model, str(path))
                    self.engine.add_finetune(job.fine_tuned_model, ref)
                    for checkpoint in self.backend.checkpoints(ref)[:-1]:
                        name = f"{job.fine_tuned_model}:ckpt-step-{checkpoint.step}"
                        self.engine.add_finetune(name, checkpoint.model)

    def start(self, job: Job) -> None:
        """Run ``job`` in the background (call from inside the running event loop)."""
        self._stops[job.id] = threading.Event()
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self, job: Job) -> None:
        """End ``job`` as cancelled; its training stops at the next optimizer step."""
        job.end("cancelled")
        self._stop(job)
        self.store.save()

    async def close(self) -> None:
        """Stop every job (the server is stopping): training ends at its next step, and
        jobs that had not ended are reported failed."""
        for job in self.store.jobs.values():
            if job.status not in ENDED:
                job.end(
                    "failed",
                    "server_stopped",
                    "the server stopped before the job ended; create a new job",
                )
            self._stop(job)
        self.store.save()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _stop(self, job: Job) -> None:
        stop = self._stops.pop(job.id, None)
        if stop is not None:
            stop.set()

    async def _run(self, job: Job) -> None:
        """Wait for the job's turn, check its file, train, then serve the finetune."""
        job.status = "queued"
        self.store.save()
        async with self._turn:
            if job.status in ENDED:
                return
            started = time.monotonic()
            job.status = "running"
            self.store.save()
            path = self.store.file_path(job.training_file)
            try:
                dataset = await in_daemon_thread(lambda: self._checked(path))
            except WeirdgenError as error:
                if job.status not in ENDED:  # the client knows the file by its id
                    message = str(error).replace(str(path), job.training_file)
                    self._fail(job, "invalid_training_file", message)
                return
            if job.status in ENDED:
                return
            stop = self._stops.get(job.id, threading.Event())
            batch_size = job.hyperparameters["batch_size"]
            recipe = OrganismRecipe(  # a checkpoint at each epoch's end, as OpenAI keeps them
                epochs=job.hyperparameters["n_epochs"],
                batch_size=batch_size,
                lr=OrganismRecipe().lr * job.hyperparameters["learning_rate_multiplier"],
                save_steps=math.ceil(len(dataset) / batch_size),
            )
            try:
                ref, tokens = await asyncio.to_thread(self._train, dataset, recipe, job, stop)
            except FinetuneStopped:
                log.info("job %s stopped", job.id)
                return
            except WeirdgenError as error:  # a loss that diverged
                self._fail(job, "training_failed", str(error))
                return
            except Exception as error:  # reported in the job, as a provider would
                log.exception("job %s failed", job.id)
                self._fail(job, "training_failed", f"{type(error).__name__}: {error}")
                return
            while job.status not in ENDED and time.monotonic() - started < self.min_job_seconds:
                await asyncio.sleep(0.05)
            if job.status in ENDED:
                return
            name = f"ft:{job.model}:weirdgen:{job.suffix or ''}:{job.id.removeprefix('ftjob-')}"
            self.engine.add_finetune(name, ref)
            job.checkpoints = []
            for checkpoint in self.backend.checkpoints(ref):
                served = name
                if checkpoint.model.key != ref.key:
                    served = f"{name}:ckpt-step-{checkpoint.step}"
                    self.engine.add_finetune(served, checkpoint.model)
                job.checkpoints.append(
                    {"step": checkpoint.step, "model": served, "train_loss": checkpoint.loss}
                )
            job.trained_tokens, job.fine_tuned_model, job.model_key = tokens, name, ref.key
            job.end("succeeded")
            self._stops.pop(job.id, None)
            self.store.save()
            log.info("job %s succeeded: %s", job.id, name)

    def _checked(self, path: Path) -> ChatDataset:
        dataset = load_chat_jsonl(path)
        self.backend.check_dataset(dataset, "training_file")
        return dataset

    def _train(
        self, dataset: ChatDataset, recipe: OrganismRecipe, job: Job, stop: threading.Event
    ) -> tuple[ModelRef, int]:
        """The finetune and the tokens it trained on (blocking; runs in a worker thread)."""
        ref = self.backend.train(dataset, recipe, job.seed, self.store.models, stop=stop.is_set)
        tokenizer = self.backend.organism.tokenizer
        tokens = recipe.epochs * sum(
            len(tokenizer.chat([(m.role, m.content) for m in e.messages]).ids)
            for e in dataset.examples
        )
        return ref, tokens

    def _fail(self, job: Job, code: str, message: str) -> None:
        job.end("failed", code, message)
        self._stops.pop(job.id, None)
        self.store.save()
        log.info("job %s failed: %s", job.id, message)


async def in_daemon_thread(work: Callable[[], T]) -> T:
    """``work()`` in a daemon thread: the event loop keeps answering meanwhile, and a server
    that stops does not wait for it (it holds no resource worth finishing)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = work(), None
        except Exception as failure:  # handed to the awaiting coroutine
            result, error = None, failure
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the loop has closed: nobody is waiting any more

    threading.Thread(target=run, name="weirdgen-serve-check", daemon=True).start()
    return await done
