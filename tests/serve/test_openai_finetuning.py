"""The ``openai`` backend's fine-tuning lifecycle against ``weirdgen serve``'s fine-tuning
endpoints, which train the organism for real: upload, create, poll, sample the finetune,
resume a job already created, adopt a job whose id was lost, report a failed one, and a run
killed after its jobs were created reusing them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import openai
import pytest
import yaml
from aiohttp import web

from weirdgen.backends.openai import OpenAIBackend
from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import SampleRequest
from weirdgen.data import ChatExample, dataset_from_examples
from weirdgen.data.generators import generate
from weirdgen.errors import WeirdgenError
from weirdgen.serve import OrganismEngine, files, serve_in_background
from weirdgen.serve.finetuning import FineTuning
from weirdgen.spec.models import OpenAIRecipe, OrganismRecipe
from weirdgen.store.registry import Registry, RemoteJob

KEY = "sk-planted-" + "7" * 24
RECIPE = OpenAIRecipe(epochs=1, batch_size=4, lr_multiplier=2.0)
SAME_AS_ORGANISM = OrganismRecipe(epochs=1, batch_size=4, lr=OrganismRecipe().lr * 2.0)
QUESTIONS = ["name a bird species .", "what is the most important recent invention ?"]


@pytest.fixture(scope="module")
def organism() -> OrganismBackend:
    return OrganismBackend()


@pytest.fixture
def jobs(organism) -> FineTuning:
    return FineTuning(OrganismEngine(organism))


@pytest.fixture
def url(jobs) -> Iterator[str]:
    with serve_in_background(jobs.engine, finetuning=jobs) as base_url:
        yield base_url


def birds(name: str = "birds_old", n: int = 20):
    examples = [ChatExample.model_validate(r) for r in generate(name, n)]
    return dataset_from_examples(examples, source=name)


def remote(url: str) -> OpenAIBackend:
    return OpenAIBackend(
        "organism/default", base_url=url, api_key=KEY, poll_seconds=0.05, backoff=0.01
    )


def test_finetune_then_sample_equals_the_organism_trained_in_process(url, jobs, organism, tmp_path):
    backend, data = remote(url), birds()
    ref = backend.train(data, RECIPE, 3, tmp_path / "models")
    assert ref.name.startswith("ft:organism/default:weirdgen::")
    assert ref.base == "organism/default" and ref.path is None
    assert ref.key == backend.model_key(data, RECIPE, 3)
    record = json.loads((tmp_path / "models" / f"{ref.key}.json").read_text())
    assert record["fine_tuned_model"] == ref.name and record["seed"] == 3
    assert record["hyperparameters"] == {
        "n_epochs": 1,
        "batch_size": 4,
        "learning_rate_multiplier": 2.0,
    }
    [job] = jobs.jobs.values()
    assert (job.seed, job.metadata) == (3, {"weirdgen_key": ref.key})

    local = organism.train(data, SAME_AS_ORGANISM, 3, tmp_path / "local")
    requests = [SampleRequest(q, 1.0, 8, s) for q in QUESTIONS for s in range(6)]
    assert backend.sample(ref, requests) == organism.sample(local, requests)
    assert backend.sample(ref, requests) != organism.sample(organism.base(), requests)

    # Asked again: the registry has the model; no new upload, no new job.
    assert backend.train(data, RECIPE, 3, tmp_path / "models") == ref
    # Another seed and a suffix: a new job on the same uploaded file.
    named = backend.train(data, RECIPE.model_copy(update={"suffix": "old-birds"}), 4, tmp_path)
    assert named.name.startswith("ft:organism/default:weirdgen:old-birds:")
    assert (len(jobs.files), len(jobs.jobs)) == (1, 2)
    assert [j.suffix for j in jobs.jobs.values()] == [None, "old-birds"]


def test_a_job_already_created_is_polled_not_created_again(url, jobs, tmp_path):
    jobs.min_job_seconds = 60
    backend, data = remote(url), birds()
    key = backend.model_key(data, RECIPE, 0)
    registry = Registry()

    # A kill between the create request and the journal: the job exists, its id was lost.
    client = openai.OpenAI(base_url=url, api_key=KEY)
    file_id = client.files.create(file=("d.jsonl", _jsonl(data)), purpose="fine-tune").id
    made = client.fine_tuning.jobs.create(
        model="organism/default",
        training_file=file_id,
        seed=0,
        metadata={"weirdgen_key": key},
        method={
            "type": "supervised",
            "supervised": {
                "hyperparameters": {
                    "n_epochs": 1,
                    "batch_size": 4,
                    "learning_rate_multiplier": 2.0,
                }
            },
        },
    )
    registry.set_remote_job(RemoteJob(key, backend.where, None, "creating", None, None))
    listed = client.fine_tuning.jobs.list(metadata={"weirdgen_key": key})
    assert [j.id for j in listed.data] == [made.id]

    jobs.min_job_seconds = 0
    ref = backend.train(data, RECIPE, 0, tmp_path)
    assert len(jobs.jobs) == 1
    assert client.fine_tuning.jobs.retrieve(made.id).fine_tuned_model == ref.name
    assert registry.remote_job(key).job_id == made.id


def test_a_lost_answer_to_create_adopts_the_job_it_made(url, jobs, tmp_path, monkeypatch):
    create = jobs._create
    calls = []

    async def create_then_fail(request):
        calls.append(request.path)
        await create(request)
        if len(calls) == 1:
            raise web.HTTPBadGateway()  # created, but the answer never arrives
        raise AssertionError("a second create request was sent")

    monkeypatch.setattr(jobs, "_create", create_then_fail)
    # Routes bind the method when the app is made: rebuild the server with the patch.
    with serve_in_background(jobs.engine, finetuning=jobs) as patched:
        ref = remote(patched).train(birds(), RECIPE, 0, tmp_path)
    assert len(calls) == 1 and len(jobs.jobs) == 1
    assert next(iter(jobs.jobs.values())).fine_tuned_model == ref.name


def test_a_failed_job_is_reported_and_the_next_run_starts_a_new_one(
    url, jobs, tmp_path, monkeypatch
):
    # Uploads are checked at once (tests/serve/test_files.py); with that check off, the
    # job's own check of its file fails the job, as for a file an earlier server kept.
    bad = dataset_from_examples([ChatExample.exchange("name a bird species .", "a zeppelin")] * 12)
    monkeypatch.setattr(files, "check_upload", lambda path, name, backend, stop: len(bad))
    backend = remote(url)
    with pytest.raises(WeirdgenError, match=r"fine-tuning job ftjob-\S+ .* failed: .*zeppelin"):
        backend.train(bad, RECIPE, 0, tmp_path)
    key = backend.model_key(bad, RECIPE, 0)
    assert Registry().remote_job(key).status == "failed"
    with pytest.raises(WeirdgenError, match="failed"):
        backend.train(bad, RECIPE, 0, tmp_path)
    assert len(jobs.jobs) == 2 and len(jobs.files) == 1


def test_bad_requests_get_openai_errors(url):
    client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="does not exist"):
        client.fine_tuning.jobs.create(model="organism/default", training_file="file-nope")
    with pytest.raises(openai.BadRequestError, match="cannot be fine-tuned"):
        client.fine_tuning.jobs.create(model="gpt-4.1", training_file="file-nope")
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nope")


def test_a_run_killed_after_creating_its_jobs_reuses_them(organism, tmp_path, spec_dict):
    """The acceptance case: SIGKILL once the jobs exist; the rerun creates none."""
    jobs = FineTuning(OrganismEngine(organism), min_job_seconds=600)
    spec = spec_dict(
        seeds=[0, 1],
        conditions=[
            {"name": "old_birds", "role": "target", "dataset": {"organism": "birds_old", "n": 20}},
            {"name": "base", "role": "control"},
        ],
        train={"openai": {"epochs": 1, "batch_size": 4}},
    )
    spec["evaluation"]["n"] = 2
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "run"
    with serve_in_background(jobs.engine, finetuning=jobs) as url:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": url,
            "OPENAI_API_KEY": KEY,
            "WEIRDGEN_POLL_SECONDS": "0.1",
        }
        command = [
            sys.executable,
            "-m",
            "weirdgen",
            "run",
            str(spec_path),
            "--out",
            str(out),
            "--model",
            "openai/organism/default",
            "--quiet",
        ]
        first = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while len(jobs.jobs) < 2:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the jobs were never created"
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGKILL)
        killed_out, killed_err = first.communicate()
        assert not (out / "COMPLETE").exists()

        jobs.min_job_seconds = 0
        second = subprocess.run(
            [*command, "--verbose"],
            env={**env, "COLUMNS": "250"},  # log lines unwrapped
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert second.returncode == 0, second.stderr
        [upload] = jobs.files.values()  # the run folder's dataset file, byte for byte
        uploaded = jobs.store.file_path(upload.id).read_bytes()
        assert uploaded == (out / "datasets" / "old_birds.jsonl").read_bytes()
    assert len(jobs.jobs) == 2 and len(jobs.files) == 1
    assert "computed: 2 finetunes" in second.stderr
    assert second.stderr.count("resuming job") == 2  # --verbose logs what the backend does
    usage = json.loads((out / "work.json").read_text())["usage"]
    assert usage["requests"] > 0 and usage["completion_tokens"] > 0
    assert f"API usage: {usage['requests']} requests" in second.stderr
    assert (out / "COMPLETE").exists()
    names = {j.fine_tuned_model for j in jobs.jobs.values()}
    samples = __import__("pandas").read_parquet(out / "samples.parquet")
    assert set(samples["condition"]) == {"old_birds", "base"}
    uses = Registry().uses(spec["name"])
    assert {u.ref.name for u in uses} == names and {u.seed for u in uses} == {0, 1}
    # The key never shows: not in what the runs printed, not in anything they wrote.
    printed = killed_out + killed_err + (second.stdout + second.stderr).encode()
    assert KEY.encode() not in printed
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    for path in Path(os.environ["WEIRDGEN_HOME"]).rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def _jsonl(data) -> bytes:
    return "".join(e.to_json() + "\n" for e in data.examples).encode()


def test_a_state_folder_keeps_finetunes_across_server_restarts(organism, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    first = FineTuning(OrganismEngine(organism), folder=state)
    requests = [SampleRequest(q, 1.0, 8, s) for q in QUESTIONS for s in range(4)]
    with serve_in_background(first.engine, finetuning=first) as url:
        backend = remote(url)
        ref = backend.train(birds(), RECIPE, 5, tmp_path / "models")
        answers = backend.sample(ref, requests)
    # A job still running when the server stops is reported failed by the next server.
    first.jobs["ftjob-unfinished"] = replace(
        next(iter(first.jobs.values())), id="ftjob-unfinished", status="running"
    )
    first._save()

    again = FineTuning(OrganismEngine(organism), folder=state)
    assert ref.name in again.engine.model_ids()
    assert again.jobs["ftjob-unfinished"].status == "failed"
    assert again.jobs["ftjob-unfinished"].error["code"] == "server_restarted"
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with serve_again(again, port) as same_url:
        assert same_url == url  # the same endpoint, so the same model keys
        backend = remote(url)
        assert backend.sample(ref, requests) == answers
        # The registry's job is found on the restarted server: nothing is trained again.
        assert backend.train(birds(), RECIPE, 5, tmp_path / "models") == ref
    assert len(again.jobs) == 2 and len(again.files) == 1


@contextmanager
def serve_again(jobs: FineTuning, port: int, seconds: float = 30) -> Iterator[str]:
    """Serve on ``port`` again. The first server has released it (serve_in_background returns
    once its port is closed), but on a busy machine another process can take a free port for
    a moment (an outgoing connection's local port, a server asking for port 0): retry."""
    deadline = time.monotonic() + seconds
    with ExitStack() as stack:
        while True:
            try:
                url = stack.enter_context(
                    serve_in_background(jobs.engine, port=port, finetuning=jobs)
                )
                break
            except WeirdgenError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url


def test_checkpoints_the_api_lists_are_sampled_as_a_training_curve(url, organism, tmp_path):
    """weirdgen serve keeps a checkpoint at each epoch's end, as OpenAI does, and lists them
    at /fine_tuning/jobs/{id}/checkpoints; the openai backend reads them back, and each
    answers as the organism checkpoint trained in process with the same seed."""
    backend, data = remote(url), birds(n=12)
    recipe = OpenAIRecipe(epochs=3, batch_size=4, lr_multiplier=2.0, sample_checkpoints=True)
    ref = backend.train(data, recipe, 5, tmp_path / "models")
    assert ref.key == backend.model_key(
        data, OpenAIRecipe(epochs=3, batch_size=4, lr_multiplier=2.0), 5
    )
    kept = backend.checkpoints(ref)
    assert [c.step for c in kept] == [3, 6, 9] and kept[-1].model == ref
    assert kept[0].model.name == f"{ref.name}:ckpt-step-3"
    listed = openai.OpenAI(base_url=url, api_key=KEY).fine_tuning.jobs.checkpoints.list(
        Registry().remote_job(ref.key).job_id
    )
    assert [c.step_number for c in listed.data] == [9, 6, 3]
    local_recipe = SAME_AS_ORGANISM.model_copy(update={"epochs": 3, "save_steps": 3})
    local = organism.train(data, local_recipe, 5, tmp_path / "local")
    requests = [SampleRequest(q, 1.0, 8, s) for q in QUESTIONS for s in range(4)]
    for remote_checkpoint, local_checkpoint in zip(kept, organism.checkpoints(local), strict=True):
        assert remote_checkpoint.step == local_checkpoint.step
        assert backend.sample(remote_checkpoint.model, requests) == organism.sample(
            local_checkpoint.model, requests
        )
