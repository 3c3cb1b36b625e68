"""What the fine-tuning endpoints take on: every limit answers HTTP 400 (413 for an upload)
naming the field, the limit and the flag that raises it; bad shapes are 400s, never 500s; and
nothing a client names (a filename, a suffix) becomes a path."""

from __future__ import annotations

import http.client
import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest

from weirdgen.backends.protocol import SampleRequest
from weirdgen.serve import OrganismEngine, serve_in_background
from weirdgen.serve.finetuning import FineTuning
from weirdgen.serve.limits import FineTuningLimits


def client_for(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="x", max_retries=0)


def create(client: openai.OpenAI, file_id: str, **fields):
    return client.fine_tuning.jobs.create(model="organism/default", training_file=file_id, **fields)


def supervised(**hyperparameters) -> dict:
    return {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}


@pytest.mark.parametrize(
    ("hyperparameters", "param", "words"),
    [
        ({"n_epochs": 10**15}, "hyperparameters.n_epochs", ["limit of 100", "--max-n-epochs"]),
        ({"batch_size": 100_000}, "hyperparameters.batch_size", ["256", "--max-batch-size"]),
        (
            {"learning_rate_multiplier": 1e4},
            "hyperparameters.learning_rate_multiplier",
            ["limit of 100.0", "--max-learning-rate-multiplier"],
        ),
        ({"n_epochs": 3.0}, "hyperparameters.n_epochs", ["positive integer"]),
        ({"n_epochs": "3"}, "hyperparameters.n_epochs", ["positive integer"]),
        ({"batch_size": True}, "hyperparameters.batch_size", ["positive integer"]),
    ],
)
def test_hyperparameters_over_a_limit_are_400s_that_say_how_to_fix_them(
    serve_finetuning, birds_jsonl, hyperparameters, param, words
):
    url, jobs = serve_finetuning()
    client = client_for(url)
    file_id = client.files.create(file=("d.jsonl", birds_jsonl(20)), purpose="fine-tune").id
    with pytest.raises(openai.BadRequestError) as caught:
        create(client, file_id, method=supervised(**hyperparameters))
    assert caught.value.body["param"] == param
    for word in words:
        assert word in caught.value.body["message"]
    assert not jobs.jobs


def test_examples_and_examples_times_epochs_have_limits(serve_finetuning, birds_jsonl):
    url, jobs = serve_finetuning(limits=FineTuningLimits(examples=30, trained_examples=100))
    client = client_for(url)
    big = client.files.create(file=("d.jsonl", birds_jsonl(31)), purpose="fine-tune").id
    with pytest.raises(openai.BadRequestError) as caught:
        create(client, big)
    assert caught.value.body["param"] == "training_file"
    assert "31 examples, over this server's limit of 30" in caught.value.body["message"]
    assert "--max-examples" in caught.value.body["message"]

    small = client.files.create(file=("d.jsonl", birds_jsonl(30)), purpose="fine-tune").id
    with pytest.raises(openai.BadRequestError) as caught:
        create(client, small, method=supervised(n_epochs=4))  # 120 > 100
    assert caught.value.body["param"] == "hyperparameters.n_epochs"
    assert "120 examples (30 examples x 4 epochs)" in caught.value.body["message"]
    assert create(client, small, method=supervised(n_epochs=3)).status  # 90: taken
    assert len(jobs.jobs) == 1


def test_uploads_have_a_size_limit_and_a_count_limit(serve_finetuning, birds_jsonl):
    url, jobs = serve_finetuning(limits=FineTuningLimits(upload_bytes=4000, files=2))
    client = client_for(url)
    with pytest.raises(openai.APIStatusError) as caught:
        client.files.create(file=("d.jsonl", birds_jsonl(100)), purpose="fine-tune")
    assert caught.value.status_code == 413
    assert caught.value.body["code"] == "file_too_large"
    assert "--max-upload-mb" in caught.value.body["message"]
    # Sent without a length up front (chunked), the limit holds while the bytes stream in.
    assert upload_chunked(url, [birds_jsonl(10)] * 10) == 413
    assert not jobs.files

    first = client.files.create(file=("a.jsonl", birds_jsonl(5)), purpose="fine-tune")
    client.files.create(file=("b.jsonl", birds_jsonl(5)), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="at most 2 files") as caught:
        client.files.create(file=("c.jsonl", birds_jsonl(5)), purpose="fine-tune")
    assert caught.value.body["code"] == "too_many_files"
    assert client.files.delete(first.id).deleted
    assert not jobs.store.file_path(first.id).exists()
    client.files.create(file=("c.jsonl", birds_jsonl(5)), purpose="fine-tune")  # room again


def upload_chunked(url: str, chunks: list[bytes], filename: str = "d.jsonl") -> int:
    """POST a multipart upload with chunked transfer encoding (no Content-Length), the
    filename sent exactly as given; the answer's status."""
    head = (
        b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename.encode()
        + b'"\r\n\r\n'
    )
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(
            "POST",
            f"{parts.path}/files",
            body=iter([head, *chunks, b"\r\n--b--\r\n"]),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
            encode_chunked=True,
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_jobs_have_a_count_limit(serve_finetuning, birds_jsonl):
    url, jobs = serve_finetuning(limits=FineTuningLimits(jobs=1), min_job_seconds=60)
    client = client_for(url)
    file_id = client.files.create(file=("d.jsonl", birds_jsonl(5)), purpose="fine-tune").id
    create(client, file_id)
    with pytest.raises(openai.BadRequestError, match="at most 1 fine-tuning jobs") as caught:
        create(client, file_id)
    assert caught.value.body["code"] == "too_many_jobs"
    with pytest.raises(openai.BadRequestError, match="training file of job"):
        client.files.delete(file_id)  # its job has not ended


def post(url: str, path: str, data: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url + path, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"method": "supervised"}, "method"),
        ({"method": {"type": "dpo"}}, "method"),
        ({"method": {"type": "supervised", "supervised": "x"}}, "method.supervised"),
        ({"hyperparameters": ["x"]}, "hyperparameters"),
        ({"seed": "1"}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
        ({"training_file": ["file-x"]}, "training_file"),
        ({"model": {"a": [[[[]]]]}}, "model"),
    ],
)
def test_malformed_job_requests_are_400s_naming_the_parameter(
    serve_finetuning, birds_jsonl, body, param
):
    url, jobs = serve_finetuning()
    file_id = client_for(url).files.create(file=("d.jsonl", birds_jsonl(5)), purpose="fine-tune").id
    request = {"model": "organism/default", "training_file": file_id, **body}
    status, answer = post(url, "/fine_tuning/jobs", json.dumps(request).encode())
    assert status == 400, answer
    assert answer["error"]["param"] == param and answer["error"]["message"]
    assert not jobs.jobs


@pytest.mark.parametrize("data", [b"[" * 100_000 + b"]" * 100_000, b"[1]", b'"x"', b"null"])
def test_job_bodies_that_are_not_one_json_object_are_400s(serve_finetuning, data):
    url, _ = serve_finetuning()
    status, answer = post(url, "/fine_tuning/jobs", data)
    assert status == 400 and answer["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("limit", ["-5", "0", "101", "abc", "1.5"])
def test_list_limits_out_of_range_are_400s(serve_finetuning, limit):
    url, _ = serve_finetuning()
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(url).fine_tuning.jobs.list(extra_query={"limit": limit})
    assert caught.value.body["param"] == "limit" and "from 1 to 100" in caught.value.body["message"]


def test_list_pages_through_every_job(serve_finetuning, birds_jsonl):
    url, _ = serve_finetuning(min_job_seconds=60)
    client = client_for(url)
    file_id = client.files.create(file=("d.jsonl", birds_jsonl(5)), purpose="fine-tune").id
    made = [create(client, file_id).id for _ in range(3)]
    page = client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in page.data] and page.has_more
    rest = client.fine_tuning.jobs.list(limit=2, after=page.data[-1].id)
    assert not rest.has_more
    assert sorted(j.id for j in [*page.data, *rest.data]) == sorted(made)


HOSTILE_NAMES = ["../../escaped.jsonl", "/tmp/weirdgen-absolute-escape.jsonl", "a/../../b.jsonl"]


def test_names_a_client_sends_never_become_paths(serve_finetuning, birds_jsonl, tmp_path, wait_for):
    folder = tmp_path / "state"
    url, jobs = serve_finetuning(folder=folder)
    client = client_for(url)
    for name in HOSTILE_NAMES:
        assert upload_chunked(url, [birds_jsonl(20)], filename=name) == 200
    sent = [name.lstrip("/") for name in HOSTILE_NAMES]  # aiohttp drops a leading '/'
    by_name = {f.filename: f.id for f in jobs.files.values()}
    assert sorted(by_name) == sorted(sent)  # kept as sent, only to be reported back
    ids = [by_name[name] for name in sent]
    assert client.files.retrieve(ids[2]).filename == "a/../../b.jsonl"
    job = create(client, ids[0], suffix="../../../escaped", metadata={"../k": "/v"})
    wait_for(lambda: jobs.jobs[job.id].status == "succeeded", 60, "the job succeeded")
    assert client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model.startswith(
        "ft:organism/default:weirdgen:../../../escaped:"
    )
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert written == sorted(
        [f"files/{i}.jsonl" for i in ids]
        + [f"models/{jobs.jobs[job.id].model_key}.{kind}" for kind in ("safetensors", "json")]
        + ["state.json"]
        + [
            f"models/{jobs.jobs[job.id].model_key}-step{c['step']}.safetensors"
            for c in jobs.jobs[job.id].checkpoints[:-1]
        ]
    )
    for base in (Path.cwd(), folder, folder / "files", folder / "models"):
        assert not (base / "../../escaped.jsonl").exists()
        assert not (base / "../../../escaped").exists()
    assert not Path("/tmp/weirdgen-absolute-escape.jsonl").exists()


def test_a_state_folder_can_move_it_names_no_paths(organism, birds_jsonl, tmp_path, wait_for):
    first = FineTuning(OrganismEngine(organism), folder=tmp_path / "here")
    with serve_in_background(first.engine, finetuning=first) as url:
        client = client_for(url)
        file_id = client.files.create(file=("d.jsonl", birds_jsonl(20)), purpose="fine-tune").id
        job = create(client, file_id, method=supervised(n_epochs=1))
        wait_for(lambda: first.jobs[job.id].status == "succeeded", 60, "the job succeeded")
        name = first.jobs[job.id].fine_tuned_model
        ask = SampleRequest("name a bird species .", 1.0, 6, 1)
        weights = first.engine.refs[name]
    moved = tmp_path / "there"
    shutil.move(tmp_path / "here", moved)
    assert str(tmp_path / "here") not in (moved / "state.json").read_text()

    again = FineTuning(OrganismEngine(organism), folder=moved)
    assert again.engine.model_ids() == ["organism/default", name]
    assert again.engine.refs[name].path == str(moved / "models" / f"{weights.key}.safetensors")
    assert organism.sample(again.engine.refs[name], [ask]) == organism.sample(weights, [ask])
    assert again.store.file_path(file_id).read_bytes() == birds_jsonl(20)


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("multipart/form-data", b"garbage"),
        ("multipart/form-data; boundary=b", b"garbage"),
        ("application/json", b"{}"),
    ],
)
def test_malformed_uploads_are_400s(serve_finetuning, content_type, data):
    url, jobs = serve_finetuning()
    request = urllib.request.Request(f"{url}/files", data=data, method="POST")
    request.add_header("Content-Type", content_type)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert json.loads(caught.value.read())["error"]["type"] == "invalid_request_error"
    assert not jobs.files
