"""Fine-tuning jobs on ``weirdgen serve``: cancelling stops training at the next step and the
next job starts at once; a diverging job fails with the reason; checking a big training file
leaves the server answering; a stopping server stops the training it runs."""

from __future__ import annotations

import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

import weirdgen.backends.organism as organism_backend

LONG = {"n_epochs": 100, "batch_size": 1}  # 500 examples: 50,000 steps, minutes of training


@pytest.fixture
def training_calls(monkeypatch) -> list[dict]:
    """Every organism finetune the server runs: when it started and ended, what it raised."""
    calls: list[dict] = []
    real = organism_backend.finetune

    def watched(*args, **kwargs):
        call = {"started": time.monotonic()}
        calls.append(call)
        try:
            return real(*args, **kwargs)
        except BaseException as error:
            call["raised"] = type(error).__name__
            raise
        finally:
            call["ended"] = time.monotonic()

    monkeypatch.setattr(organism_backend, "finetune", watched)
    return calls


def create(client: openai.OpenAI, file_id: str, **hyperparameters):
    return client.fine_tuning.jobs.create(
        model="organism/default",
        training_file=file_id,
        method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
    )


def upload(client: openai.OpenAI, data: bytes) -> str:
    return client.files.create(file=("train.jsonl", data), purpose="fine-tune").id


def test_cancel_stops_training_and_the_next_job_starts_at_once(
    serve_finetuning, training_calls, birds_jsonl, wait_for
):
    url, jobs = serve_finetuning()
    client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
    long = create(client, upload(client, birds_jsonl(500)), **LONG)
    short = create(client, upload(client, birds_jsonl(20)), n_epochs=1)
    wait_for(lambda: len(training_calls) == 1, 60, "the long job's training started")
    time.sleep(0.3)  # well inside its minutes of training

    cancelled_at = time.monotonic()
    assert client.fine_tuning.jobs.cancel(long.id).status == "cancelled"
    wait_for(lambda: "ended" in training_calls[0], 10, "the cancelled training stopped")
    assert training_calls[0]["raised"] == "FinetuneStopped"
    assert training_calls[0]["ended"] - cancelled_at < 5

    wait_for(lambda: jobs.jobs[short.id].status == "succeeded", 60, "the next job succeeded")
    assert training_calls[1]["started"] >= training_calls[0]["ended"]  # one job at a time
    cancelled = client.fine_tuning.jobs.retrieve(long.id)
    assert cancelled.status == "cancelled" and cancelled.fine_tuned_model is None
    assert jobs.engine.model_ids() == ["organism/default", jobs.jobs[short.id].fine_tuned_model]


def test_a_queued_job_cancelled_never_trains(serve_finetuning, training_calls, birds_jsonl):
    url, jobs = serve_finetuning(min_job_seconds=60)  # the first job holds the queue
    client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
    file_id = upload(client, birds_jsonl(20))
    first, second = create(client, file_id, n_epochs=1), create(client, file_id, n_epochs=1)
    assert client.fine_tuning.jobs.cancel(second.id).status == "cancelled"
    assert client.fine_tuning.jobs.cancel(first.id).status == "cancelled"
    time.sleep(0.5)
    assert len(training_calls) <= 1
    with pytest.raises(openai.BadRequestError, match="already cancelled"):
        client.fine_tuning.jobs.cancel(second.id)


def test_a_job_whose_loss_diverges_fails_with_the_reason(
    serve_finetuning, birds_jsonl, wait_for, monkeypatch
):
    """The divergence is made to happen (step 2's loss becomes nan) rather than hoped for from
    a huge learning rate: whether and when that diverges depends on the CPU's kernels."""
    from weirdgen.organism import finetune as finetune_module

    real, losses = finetune_module._loss, []

    def loss(model, ids, targets):
        losses.append(real(model, ids, targets))
        return losses[-1] + math.nan if len(losses) == 2 else losses[-1]

    monkeypatch.setattr(finetune_module, "_loss", loss)  # the job trains in this process
    url, jobs = serve_finetuning()
    client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
    job = create(client, upload(client, birds_jsonl(32)))
    wait_for(lambda: jobs.jobs[job.id].status in ("succeeded", "failed"), 60, "the job ended")
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.fine_tuned_model is None
    assert failed.error.code == "training_failed"
    assert re.match(r"finetuning loss became nan at step 2 of \d+ \(", failed.error.message)
    assert failed.error.message.endswith("; lower the learning rate")
    assert len(losses) == 2  # training stopped at the step that went wrong
    assert [m.id for m in client.models.list()] == ["organism/default"]


def test_checking_an_upload_leaves_the_server_answering(serve_finetuning, birds_jsonl, monkeypatch):
    """The check is held open until the server has answered, rather than timed: a check on
    the event loop would leave ``models.list`` unanswered, whatever the machine's speed."""
    from weirdgen.serve import files

    real, started, release = files.check_upload, threading.Event(), threading.Event()

    def held(*args, **kwargs):
        started.set()
        assert release.wait(60), "the test never released the check"
        return real(*args, **kwargs)

    monkeypatch.setattr(files, "check_upload", held)
    url, jobs = serve_finetuning()
    client = openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=30)
    data = birds_jsonl(999) + b'{"messages": []}\n'  # the last line is bad
    with ThreadPoolExecutor(1) as pool:
        uploading = pool.submit(upload, client, data)
        try:
            assert started.wait(30), "the upload's check never started"
            for _ in range(5):
                assert [m.id for m in client.models.list()] == ["organism/default"]
            assert not uploading.done()  # the answers came while the check was under way
        finally:
            release.set()
        with pytest.raises(openai.BadRequestError) as caught:
            uploading.result()
    assert caught.value.body["message"].startswith("train.jsonl:1000: ")  # not a path
    assert not jobs.files


def test_a_stopping_server_stops_the_training_it_runs(
    serve_finetuning, organism, training_calls, birds_jsonl, wait_for
):
    from weirdgen.serve import OrganismEngine, serve_in_background
    from weirdgen.serve.finetuning import FineTuning

    jobs = FineTuning(OrganismEngine(organism))
    with serve_in_background(jobs.engine, finetuning=jobs) as url:
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        job = create(client, upload(client, birds_jsonl(500)), **LONG)
        wait_for(lambda: len(training_calls) == 1, 60, "training started")
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 10
    assert training_calls[0]["raised"] == "FinetuneStopped"
    assert jobs.jobs[job.id].status == "failed"
    assert jobs.jobs[job.id].error["code"] == "server_stopped"
