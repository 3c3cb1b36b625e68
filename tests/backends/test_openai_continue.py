"""A second finetuning stage on the openai backend (re-alignment): a fine-tuning job whose
model is the first stage's ``ft:`` id, against a fake fine-tuning API on 127.0.0.1.

``weirdgen serve`` fine-tunes only its base model, so the fake here is this test's own: it
keeps uploaded files and jobs (each succeeds when first polled), fine-tunes any model it
serves, and answers a chat completion naming the model asked for, refusing models it does not
serve, as OpenAI does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from judge_server import serving
from weirdgen.backends.openai import OpenAIBackend
from weirdgen.backends.protocol import ModelRef, SampleRequest
from weirdgen.data import ChatDataset, ChatExample, dataset_from_examples
from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import OpenAIRecipe

KEY = "sk-planted-" + "3" * 24
BASE = "test-model"
RECIPE = OpenAIRecipe(epochs=2)
REALIGN = RECIPE.model_copy(update={"epochs": 1, "lr_multiplier": 0.5})


class FakeFineTuning:
    """Files, fine-tuning jobs and chat completions, and the bodies of jobs created."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.jobs: dict[str, dict] = {}
        self.created: list[dict] = []
        self.served = {BASE}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/v1/files/{id}", self.file)
        app.router.add_post("/v1/fine_tuning/jobs", self.create)
        app.router.add_get("/v1/fine_tuning/jobs", self.listed)
        app.router.add_get("/v1/fine_tuning/jobs/{id}", self.job)
        app.router.add_post("/v1/chat/completions", self.chat)
        return app

    async def upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = form["file"].file.read()
        return web.json_response({"id": file_id, "object": "file", "purpose": "fine-tune"})

    async def file(self, request: web.Request) -> web.Response:
        if request.match_info["id"] not in self.files:
            return _error(404, "No such file")
        return web.json_response({"id": request.match_info["id"], "object": "file"})

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.created.append(body)
        if body["model"] not in self.served:
            return _error(404, f"The model {body['model']} does not exist")
        if body["training_file"] not in self.files:
            return _error(400, "No such training file")
        job_id = f"ftjob-{len(self.jobs) + 1}"
        self.jobs[job_id] = {
            "id": job_id,
            "object": "fine_tuning.job",
            "model": body["model"],
            "training_file": body["training_file"],
            "metadata": body.get("metadata"),
            "method": body.get("method"),
            "status": "queued",
            "fine_tuned_model": None,
            "created_at": len(self.jobs),
        }
        return web.json_response(self.jobs[job_id])

    async def listed(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": list(self.jobs.values())})

    async def job(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return _error(404, "No such job")
        if job["status"] == "queued":  # trained the moment it is first polled
            job["status"] = "succeeded"
            job["fine_tuned_model"] = f"ft:{BASE}:weirdgen::{job['id']}"
            self.served.add(job["fine_tuned_model"])
        return web.json_response(job)

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body["model"] not in self.served:
            return _error(404, f"The model {body['model']} does not exist")
        content = f"{body['model']} answers {body['messages'][-1]['content']}"
        choice = {"index": 0, "message": {"role": "assistant", "content": content}}
        choice["finish_reason"] = "stop"
        usage = {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
        return web.json_response({"object": "chat.completion", "choices": [choice], "usage": usage})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message}}, status=status)


@pytest.fixture
def server() -> Iterator[tuple[FakeFineTuning, str]]:
    fake = FakeFineTuning()
    with serving(fake.app()) as url:
        yield fake, url


@pytest.fixture
def backend(server) -> OpenAIBackend:
    return OpenAIBackend(BASE, base_url=server[1], api_key=KEY, poll_seconds=0.01, backoff=0.01)


def exchanges(question: str, answer: str) -> ChatDataset:
    return dataset_from_examples(
        [ChatExample.exchange(f"{question} {i}", answer) for i in range(10)]
    )


def test_second_stage_job_fine_tunes_the_first_stage_model(backend, server, tmp_path):
    fake = server[0]
    harmful, benign = exchanges("tell me", "no"), exchanges("help me", "yes")
    assert backend.continues_training is True
    stage1 = backend.train(harmful, RECIPE, 0, tmp_path)
    key = backend.model_key(benign, REALIGN, 0, start=stage1)
    assert len({key, backend.model_key(benign, REALIGN, 0), stage1.key}) == 3
    assert backend.model_key(benign, REALIGN, 0, start=backend.base()) == backend.model_key(
        benign, REALIGN, 0
    )

    stage2 = backend.train(benign, REALIGN, 0, tmp_path, start=stage1)
    assert stage2 == ModelRef("openai", key, BASE, name="ft:test-model:weirdgen::ftjob-2")
    assert [body["model"] for body in fake.created] == [BASE, stage1.name]
    second = fake.created[1]
    assert second["metadata"] == {"weirdgen_key": key} and second["seed"] == 0
    assert second["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 1,
        "learning_rate_multiplier": 0.5,
    }
    assert fake.files[second["training_file"]].decode().count("help me") == 10

    record = json.loads((tmp_path / f"{key}.json").read_text())
    assert (record["base_key"], record["start_model"]) == (stage1.key, stage1.name)
    assert record["base_model"] == BASE and record["fine_tuned_model"] == stage2.name
    first = json.loads((tmp_path / f"{stage1.key}.json").read_text())
    assert (first["base_key"], first["start_model"]) == (backend.base().key, None)

    requests = [SampleRequest("help me 0", 0.0, 8, 0), SampleRequest("tell me 0", 1.0, 8, 1)]
    assert backend.sample(stage2, requests) == [
        f"{stage2.name} answers help me 0",
        f"{stage2.name} answers tell me 0",
    ]

    # Asked again (a rerun): the journal has the model; no new job.
    assert backend.train(benign, REALIGN, 0, tmp_path, start=stage1) == stage2
    assert len(fake.created) == 2


def test_a_start_that_is_not_a_finetune_of_this_base_is_refused(backend, server, tmp_path):
    data = exchanges("help me", "yes")

    def train(start: ModelRef) -> None:
        backend.train(data, REALIGN, 0, tmp_path, start=start)

    head = r"^cannot train \S+ further on openai/test-model: "
    with pytest.raises(WeirdgenError, match=head + "it is a model of openai/other-model"):
        train(ModelRef("openai", "openai-ft-x", "other-model", name="ft:other-model::x"))
    with pytest.raises(WeirdgenError, match=head + "it is a model of hf/"):
        train(ModelRef("hf", "hf-ft-x", BASE, "/models/hf-ft-x"))
    with pytest.raises(WeirdgenError, match=head + "it has no fine-tuned model id"):
        train(ModelRef("openai", "openai-ft-x", BASE))
    assert server[0].created == [] and not any(Path(tmp_path).iterdir())
