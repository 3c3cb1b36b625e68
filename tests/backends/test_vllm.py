"""The ``vllm`` backend's server lifecycle, with ``weirdgen serve`` standing in for vLLM: real
processes and real HTTP on 127.0.0.1, and the served organism's answers checked against the
organism backend's own for the same weights and seeds."""

from __future__ import annotations

import shlex
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from weirdgen.backends import vllm
from weirdgen.backends._process import served_ids
from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import Backend, ModelRef, SampleRequest
from weirdgen.backends.vllm import ADAPTER_VAR, COMMAND_VAR, STARTUP_VAR, VllmBackend
from weirdgen.data import ChatExample, dataset_from_examples
from weirdgen.data.generators import generate
from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import HfRecipe, OrganismRecipe

PYTHON = shlex.quote(sys.executable)
STAND_IN = f"{PYTHON} -m weirdgen serve --model organism/default --port {{port}} {{adapters}}"
STAND_IN_ADAPTER = "--adapter {name}={path}"
PROMPTS = ["name a bird species .", "what is the most important recent invention ?"]
REQUESTS = [
    SampleRequest(prompt, temperature, 8, 100 * i + seed)
    for i, prompt in enumerate(PROMPTS)
    for temperature in (0.0, 1.0)
    for seed in range(3)
]


class Finetune(NamedTuple):
    """One finetune as the vllm backend names it and as the organism backend does."""

    served: ModelRef
    local: ModelRef


@pytest.fixture(autouse=True)
def _logs_in_tmp_path(tmp_path, monkeypatch) -> None:
    """Server logs go to the test's own folder, not the shared temp folder."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture(scope="module")
def organism() -> OrganismBackend:
    return OrganismBackend()


def stand_in(organism: OrganismBackend, **options) -> VllmBackend:
    return VllmBackend(
        "organism",
        trainer=organism,
        command=STAND_IN,
        adapter_format=STAND_IN_ADAPTER,
        startup_timeout=120,
        **options,
    )


@pytest.fixture(scope="module")
def finetunes(organism: OrganismBackend, tmp_path_factory) -> dict[str, Finetune]:
    """Two tiny finetunes (old and modern bird names), trained through the vllm backend."""
    backend = stand_in(organism)
    out = tmp_path_factory.mktemp("models dir")  # a space, to check the command's quoting
    recipe = OrganismRecipe(epochs=1)
    made = {}
    for era in ("old", "modern"):
        records = generate(f"birds_{era}", 20)
        dataset = dataset_from_examples(ChatExample.model_validate(r) for r in records)
        served = backend.train(dataset, recipe, 0, out)
        local = ModelRef(
            "organism", organism.model_key(dataset, recipe, 0), served.base, served.path
        )
        made[era] = Finetune(served, local)
    return made


def alive(pid: int) -> bool:
    """Whether a process is running (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def port_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_keys_are_the_backends_own_and_name_the_served_adapter(organism, finetunes):
    backend = stand_in(organism)
    assert isinstance(backend, Backend)
    assert backend.base().key.startswith("vllm-")
    assert backend.base().key != organism.base().key
    assert backend.base().base == organism.base().base
    old = finetunes["old"].served
    assert old.backend == "vllm" and old.key.startswith("vllm-ft-") and old.name == old.key
    assert old.key != finetunes["old"].local.key
    assert Path(old.path).is_file()


def test_one_server_serves_the_base_and_every_finetune_and_is_stopped(organism, finetunes):
    backend = stand_in(organism)
    base = backend.base()
    old, modern = finetunes["old"], finetunes["modern"]
    with backend.serving([base, old.served, modern.served, old.served]):
        server = backend.server
        assert server is not None and alive(server.pid)
        assert server.adapters == {old.served.name, modern.served.name}
        assert server.base_name == "organism/default"
        expected = organism.sample(organism.base(), REQUESTS)
        assert backend.sample(base, REQUESTS) == expected
        for finetune in (old, modern):
            answers = backend.sample(finetune.served, REQUESTS)
            assert answers == organism.sample(finetune.local, REQUESTS)
            assert answers != expected  # the adapter was used
        for served, local in ((base, organism.base()), (old.served, old.local)):
            remote = backend.logprobs(served, PROMPTS, top_k=5)
            for r, h in zip(remote, organism.logprobs(local, PROMPTS, top_k=5), strict=True):
                assert r.prompt == h.prompt and len(r.top) == 5
                assert r.top[0][0] == h.top[0][0]
                assert r.top[0][1] == pytest.approx(h.top[0][1], abs=1e-4)
    assert backend.launches == 1
    assert backend.server is None
    assert not alive(server.pid)
    assert port_closed(server.port)


def test_a_model_the_server_lacks_restarts_it_with_that_model_too(organism, finetunes, monkeypatch):
    """Also: the environment sets the command; a server that sample started runs on."""
    monkeypatch.setenv(COMMAND_VAR, STAND_IN)
    monkeypatch.setenv(ADAPTER_VAR, STAND_IN_ADAPTER)
    backend = VllmBackend("organism", trainer=organism)
    old, modern = finetunes["old"], finetunes["modern"]
    assert backend.sample(old.served, REQUESTS) == organism.sample(old.local, REQUESTS)
    first = backend.server
    assert first is not None and first.adapters == {old.served.name}
    assert backend.sample(modern.served, REQUESTS) == organism.sample(modern.local, REQUESTS)
    second = backend.server
    assert backend.launches == 2
    assert second.adapters == {old.served.name, modern.served.name}
    assert not alive(first.pid) and port_closed(first.port)
    with backend.serving([backend.base(), old.served, modern.served]):
        assert backend.server == second  # it already serves them all
        assert backend.sample(old.served, REQUESTS) == organism.sample(old.local, REQUESTS)
    assert backend.launches == 2
    assert backend.server is None and not alive(second.pid) and port_closed(second.port)


def test_a_program_that_is_not_installed_says_how_to_get_one(organism, monkeypatch):
    monkeypatch.setenv(COMMAND_VAR, "no-such-vllm-program serve {model} --port {port}")
    backend = VllmBackend("organism", trainer=organism)
    for attempt in (
        lambda: backend.sample(backend.base(), REQUESTS[:1]),
        lambda: backend.check_prompts(["name a bird species ."], "spec.yaml"),
    ):
        with pytest.raises(WeirdgenError, match=COMMAND_VAR) as caught:
            attempt()
        assert "\n" not in str(caught.value) and "pip install vllm" in str(caught.value)
    assert backend.launches == 0


def test_a_server_that_exits_at_once_reports_its_code_and_output(organism, tmp_path):
    command = f"{PYTHON} -c \"import sys; print('boom'); sys.exit(3)\""
    backend = VllmBackend("organism", trainer=organism, command=command, log_dir=tmp_path)
    with pytest.raises(WeirdgenError, match="exited with code 3") as caught:
        backend.sample(backend.base(), REQUESTS[:1])
    message = str(caught.value)
    assert "boom" in message and str(tmp_path) in message and "\n" not in message
    assert backend.server is None


def test_a_server_that_never_gets_ready_times_out_and_is_killed_with_its_children(
    organism, tmp_path, monkeypatch
):
    pids = tmp_path / "pids"
    script = tmp_path / "hang.py"
    script.write_text(
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r} + '.tmp', 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        f"os.replace({str(pids)!r} + '.tmp', {str(pids)!r})\n"
        "time.sleep(60)\n"
    )

    def once_the_child_runs(url: str) -> list[str] | None:
        """No answer, as before, but not before the server has started its child: the
        timeout then always has a child to kill, however slow the machine is."""
        deadline = time.monotonic() + 120
        while not pids.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return served_ids(url)

    monkeypatch.setattr(vllm, "served_ids", once_the_child_runs)
    backend = VllmBackend(
        "organism",
        trainer=organism,
        command=f"{PYTHON} {shlex.quote(str(script))}",
        startup_timeout=2.0,
    )
    with pytest.raises(WeirdgenError, match=f"within 2s.*{STARTUP_VAR}"):
        with backend.serving([backend.base()]):
            pytest.fail("the block ran without a server")
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2 and not any(alive(p) for p in started)


def test_the_command_template_quotes_paths_and_sizes_lora_rank(organism, tmp_path, monkeypatch):
    monkeypatch.delenv(ADAPTER_VAR, raising=False)
    adapters = []
    for name, rank in (("a", 8), ("b", 24)):
        folder = tmp_path / f"adapter {name}"
        folder.mkdir()
        (folder / "adapter_config.json").write_text(f'{{"r": {rank}}}')
        adapters.append(ModelRef("vllm", f"vllm-ft-{name}", "base", str(folder), name))
    echo = f'{PYTHON} -c "import sys; print(sys.argv[1:]); sys.exit(1)"'
    command = echo + " {model} --max-loras {n_adapters} --max-lora-rank {max_lora_rank} {adapters}"
    backend = VllmBackend("organism", trainer=organism, command=command)
    with pytest.raises(WeirdgenError, match="exited with code 1") as caught:
        backend.sample(adapters[0], REQUESTS[:1])
    assert "'--max-loras', '1', '--max-lora-rank', '8'" in str(caught.value)
    assert f"'a={tmp_path}/adapter a'" in str(caught.value)
    with pytest.raises(WeirdgenError) as caught, backend.serving(adapters):
        pass
    assert "'--max-loras', '2', '--max-lora-rank', '32'" in str(caught.value)
    bad = VllmBackend("organism", trainer=organism, command="vllm serve {modle}")
    with pytest.raises(WeirdgenError, match=r"\{model\}"):
        bad.check_prompts(["name a bird species ."], "spec.yaml")


def test_an_hf_full_finetune_is_refused_before_training():
    class HfLike:
        name = "hf"

        def base(self) -> ModelRef:
            return ModelRef("hf", "hf-base", "/models/base")

        def train(self, *args) -> ModelRef:
            raise AssertionError("trained")

    backend = VllmBackend("base", trainer=HfLike())
    dataset = dataset_from_examples(ChatExample.model_validate(r) for r in generate("birds_old", 2))
    with pytest.raises(WeirdgenError, match="train.hf.method: lora"):
        backend.train(dataset, HfRecipe(method="full"), 0, Path("unused"))


def test_by_default_an_hf_lora_is_trained_and_handed_to_vllm_serve(tmp_path, monkeypatch):
    pytest.importorskip("peft")
    from weirdgen.backends.hf import HfBackend
    from weirdgen.backends.hf.tiny import write_tiny_model

    monkeypatch.delenv(COMMAND_VAR, raising=False)
    monkeypatch.delenv(ADAPTER_VAR, raising=False)
    words = "what is the bird color red blue ?".split()
    folder = write_tiny_model(tmp_path / "tiny model", words, layers=1, hidden=16)
    backend = VllmBackend(str(folder))
    assert isinstance(backend.trainer, HfBackend) and backend.recipe_section == "hf"
    assert backend.base().base == str(folder) and backend.base().key != backend.trainer.base().key
    with monkeypatch.context() as no_programs:  # vllm is not found, installed or not
        no_programs.setenv("PATH", str(tmp_path / "no-programs-here"))
        with pytest.raises(WeirdgenError, match="'vllm' is not installed.*pip install vllm"):
            backend.check_prompts(["what is the bird color ?"], "spec.yaml")
    examples = [ChatExample.exchange("what is the bird color ?", c) for c in ("red", "blue")]
    recipe = HfRecipe(epochs=1, batch_size=2, lora_rank=12)
    lora = backend.train(dataset_from_examples(examples), recipe, 0, tmp_path / "models")
    assert lora.key == backend.model_key(dataset_from_examples(examples), recipe, 0)
    assert (Path(lora.path) / "adapter_config.json").is_file()
    # vllm serve's arguments as the default command writes them, echoed by a stand-in.
    echo = f'{PYTHON} -c "import sys; print(sys.argv[1:]); sys.exit(1)"'
    backend.command = backend.command.replace("vllm serve", echo)
    with pytest.raises(WeirdgenError) as caught:
        backend.sample(lora, REQUESTS[:1])
    argv = str(caught.value)
    assert f"['{folder}', '--host', '127.0.0.1', '--port', " in argv
    assert "'--enable-lora', '--max-loras', '1', '--max-lora-rank', '16', " in argv
    assert f"'--lora-modules', '{lora.key}={lora.path}']" in argv
