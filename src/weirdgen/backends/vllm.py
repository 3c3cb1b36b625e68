"""The ``vllm`` backend: LoRA finetunes of a Hugging Face model, sampled through one
``vllm serve`` process that weirdgen starts and stops itself.

Finetuning is the ``hf`` backend's (the spec's ``train.hf`` section, ``method: lora``).
Sampling goes to one vLLM server that holds the base model and every finetune as a LoRA
adapter, through the ``openai`` backend's client, so thousands of answers are drawn in
vLLM's continuous batches. vLLM needs a CUDA machine (``pip install vllm``).

Environment:
    WEIRDGEN_VLLM_COMMAND: the server's launch command, a template with the placeholders
        ``{model}`` (the base model's folder), ``{port}``, ``{adapters}`` (every served
        finetune, written as WEIRDGEN_VLLM_ADAPTER says, space-separated), ``{n_adapters}``
        and ``{max_lora_rank}``; write ``{{`` and ``}}`` for literal braces. Set it to give
        vLLM more flags (``--gpu-memory-utilization 0.8``, ``--tensor-parallel-size 2``), or
        to run another OpenAI-compatible server instead. Default: :data:`DEFAULT_COMMAND`;
        with many finetunes, ``--max-loras 4 --max-cpu-loras {n_adapters}`` instead of
        ``--max-loras {n_adapters}`` saves GPU memory (runs sample one model at a time).
    WEIRDGEN_VLLM_ADAPTER: how one finetune is written into ``{adapters}``, with the
        placeholders ``{name}`` and ``{path}`` (default ``{name}={path}``, vLLM's
        ``--lora-modules`` form).
    WEIRDGEN_VLLM_STARTUP_TIMEOUT: seconds to wait for the server to list every model it
        was started with (default 900: loading a large model and compiling takes minutes).

The server's output goes to a log file (``weirdgen-vllm-*.log`` in the temp folder); errors
name it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from weirdgen.backends._env import number_from_env
from weirdgen.backends._process import free_port, has_exited, served_ids, start, stop, tail
from weirdgen.backends.openai import OpenAIBackend
from weirdgen.backends.protocol import (
    Backend,
    Chat,
    Checkpoint,
    FirstTokenLogprobs,
    ModelRef,
    SampleRequest,
    finetune_key,
)
from weirdgen.data import ChatDataset
from weirdgen.errors import WeirdgenError

COMMAND_VAR = "WEIRDGEN_VLLM_COMMAND"
ADAPTER_VAR = "WEIRDGEN_VLLM_ADAPTER"
STARTUP_VAR = "WEIRDGEN_VLLM_STARTUP_TIMEOUT"
DEFAULT_COMMAND = (
    "vllm serve {model} --host 127.0.0.1 --port {port} --enable-lora "
    "--max-loras {n_adapters} --max-lora-rank {max_lora_rank} --lora-modules {adapters}"
)
# vLLM rejects an empty --lora-modules, so a server of the base alone starts without LoRA.
_DEFAULT_BASE_ONLY = "vllm serve {model} --host 127.0.0.1 --port {port}"
DEFAULT_ADAPTER = "{name}={path}"
_log = logging.getLogger("weirdgen.backends.vllm")
DEFAULT_STARTUP_TIMEOUT = 900.0
_VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # what --max-lora-rank accepts
_UNKNOWN_LORA_RANK = 64
_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class VllmServer:
    """A running server: where it answers, its process, its log and what it serves.

    Attributes:
        url: the OpenAI-compatible base URL, ``http://127.0.0.1:PORT/v1``.
        port: the port it listens on.
        pid: its process id (also its process group's id).
        log: the file its stdout and stderr go to.
        base_name: what the server calls the base model (vLLM: the model folder).
        adapters: the names of the finetunes it serves.
    """

    url: str
    port: int
    pid: int
    log: Path
    base_name: str
    adapters: frozenset[str]


class VllmBackend:
    """Backend ``vllm``: hf LoRA finetunes sampled through a ``vllm serve`` it starts.

    Keys differ from the trainer's (``vllm-...``), since vLLM draws other samples than the
    ``hf`` backend does in process for the same seed. ``serving`` starts one server for all
    the models of a block; ``sample`` or ``logprobs`` of a model the running server lacks
    (or with no server running) starts one that serves it too, since vLLM cannot add LoRA
    adapters to a running server. A server started outside ``serving`` runs until
    :meth:`close`, the next ``serving`` block ends, or the interpreter exits.

    Args:
        name: the base model, as for ``hf/NAME``: a local folder or a cached Hub id.
        trainer: the backend that finetunes and owns the base (default ``HfBackend(name)``).
        command: the launch command template (default ``$WEIRDGEN_VLLM_COMMAND``, else
            :data:`DEFAULT_COMMAND`); see the module docstring for its placeholders.
        adapter_format: how one finetune is written into ``{adapters}`` (default
            ``$WEIRDGEN_VLLM_ADAPTER``, else ``{name}={path}``).
        startup_timeout: seconds a server may take to be ready (default
            ``$WEIRDGEN_VLLM_STARTUP_TIMEOUT``, else 900).
        served_base: what the server calls the base model; None reads it from
            ``/v1/models`` (the one model that is not an adapter).
        log_dir: where server logs go (default the temp folder).
        stop_timeout: seconds a server gets to exit after SIGTERM before SIGKILL.
    """

    name = "vllm"
    recipe_section = "hf"  # it trains hf LoRA adapters
    remote_training = False
    keeps_checkpoints = False
    usage = None

    def __init__(
        self,
        name: str,
        *,
        trainer: Backend | None = None,
        command: str | None = None,
        adapter_format: str | None = None,
        startup_timeout: float | None = None,
        served_base: str | None = None,
        log_dir: str | Path | None = None,
        stop_timeout: float = 30.0,
    ) -> None:
        if trainer is None:
            from weirdgen.backends.hf import HfBackend

            trainer = HfBackend(name)
        self.trainer = trainer
        env_command = os.environ.get(COMMAND_VAR, "").strip()
        self.command = command or env_command or DEFAULT_COMMAND
        self._command_source = (
            "the command argument" if command else f"${COMMAND_VAR}" if env_command else "vllm"
        )
        env_adapter = os.environ.get(ADAPTER_VAR, "").strip()
        self.adapter_format = adapter_format or env_adapter or DEFAULT_ADAPTER
        self.startup_timeout = (
            startup_timeout if startup_timeout is not None else _startup_from_env()
        )
        self.served_base = served_base
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.stop_timeout = stop_timeout
        self.launches = 0
        self._lock = threading.RLock()
        self._process: subprocess.Popen | None = None
        self._server: VllmServer | None = None
        self._served: dict[str, Path] = {}  # the running server's adapters and their files
        self._client: OpenAIBackend | None = None

    def __repr__(self) -> str:
        return f"VllmBackend(trainer={self.trainer.name}, base={self.base().base!r})"

    @property
    def server(self) -> VllmServer | None:
        """The running server, or None."""
        return self._server

    @cached_property
    def _base(self) -> ModelRef:
        trained_from = self.trainer.base()
        digest = hashlib.sha256(trained_from.key.encode()).hexdigest()[:16]
        return ModelRef(self.name, f"vllm-{digest}", trained_from.base)

    def base(self) -> ModelRef:
        """The trainer's base model, keyed apart from the trainer's own samples."""
        return self._base

    def check_prompts(self, prompts: Sequence[Chat | str], where: str, max_tokens: int = 0) -> None:
        """The trainer's checks, and that the server's program is installed here."""
        self._check_installed(self._argv({}, 0)[0])
        self.trainer.check_prompts(prompts, where, max_tokens)

    def check_dataset(self, dataset: ChatDataset, where: str) -> None:
        self.trainer.check_dataset(dataset, where)

    def model_key(self, dataset: ChatDataset, recipe: Any, seed: int) -> str:
        return finetune_key(self.name, self.base().key, dataset, recipe, seed)

    def train(self, dataset: ChatDataset, recipe: Any, seed: int, out_dir: Path) -> ModelRef:
        """Finetune with the trainer; the ModelRef's ``name`` is the adapter's served name."""
        if self.trainer.name == "hf" and getattr(recipe, "method", "lora") != "lora":
            raise WeirdgenError(
                f"train.hf.method: {recipe.method}: the vllm backend serves finetunes as LoRA "
                "adapters only; set train.hf.method: lora, or use model hf/... for a full "
                "finetune"
            )
        trained = self.trainer.train(dataset, recipe, seed, out_dir)
        key = self.model_key(dataset, recipe, seed)
        return ModelRef(self.name, key, trained.base, trained.path, key)

    def checkpoints(self, model: ModelRef) -> list[Checkpoint]:
        """None kept: the hf trainer keeps only the final adapter."""
        return []

    @contextmanager
    def serving(self, models: Sequence[ModelRef]) -> Iterator[None]:
        """One server for the block, serving the base and every finetune in ``models``
        (a running server that already serves them all is kept); stopped when the block
        ends, however it ends."""
        try:
            self._ensure(models)
            yield
        finally:
            self.close()

    def sample(self, model: ModelRef, requests: Sequence[SampleRequest]) -> list[str]:
        """One answer per request, in order, drawn by the server (started if needed).

        Raises:
            SamplingFailed: some requests failed for good (see the ``openai`` backend).
        """
        if not requests:
            return []
        client, ref = self._client_for(model)
        answers = client.sample(ref, requests)
        if self.trainer.name == "hf":
            from weirdgen.backends.hf import strip_thinking

            answers = [strip_thinking(a) for a in answers]  # as the hf backend answers
        return answers

    def logprobs(
        self, model: ModelRef, prompts: Sequence[Chat | str], top_k: int = 20
    ) -> list[FirstTokenLogprobs]:
        """The first answer token's ``top_k`` alternatives (at most 20), from the server."""
        client, ref = self._client_for(model)
        # Templates with a think block (Qwen3's) close it in the prompt, so the first token is
        # the answer's, as in the hf backend; other templates ignore the variable.
        no_thinking = {"chat_template_kwargs": {"enable_thinking": False}}
        return client.logprobs(ref, prompts, top_k, extra_body=no_thinking)

    def close(self) -> None:
        """Stop the running server, if any: SIGTERM to its process group, SIGKILL to what
        is left after ``stop_timeout`` seconds."""
        with self._lock:
            process, self._process, self._server = self._process, None, None
            self._served, self._client = {}, None
            if process is not None:
                stop(process, self.stop_timeout)

    def _client_for(self, model: ModelRef) -> tuple[OpenAIBackend, ModelRef]:
        with self._lock:
            self._ensure([model])
            server, client = self._server, self._client
            assert server is not None and client is not None
        adapter = self._adapter(model)
        name = adapter[0] if adapter else None
        return client, ModelRef(client.name, model.key, server.base_name, name=name)

    def _ensure(self, models: Sequence[ModelRef]) -> None:
        """Make the running server serve ``models``, starting one (with what the old one
        served as well) if it does not."""
        wanted = dict(a for a in map(self._adapter, models) if a is not None)
        with self._lock:
            if self._server is not None and wanted.keys() <= self._server.adapters:
                return
            served = dict(self._served)
            self.close()
            self._launch({**served, **wanted})

    def _adapter(self, model: ModelRef) -> tuple[str, Path] | None:
        """The served name and files of a finetune; None for the base model."""
        if model.key == self.base().key:
            return None
        if model.path is None:
            raise WeirdgenError(
                f"model {model.key} ({model.backend}) is neither the base model of "
                f"{self!r} nor one of its finetunes; sample it with the backend that made it"
            )
        path = Path(model.path)
        if not path.exists():
            raise WeirdgenError(
                f"finetune {model.key} has no adapter at {path}; delete the run folder's "
                "store.sqlite to retrain"
            )
        return model.name or model.key, path

    def _launch(self, adapters: dict[str, Path]) -> None:
        port = free_port()
        argv = self._argv(adapters, port)
        self._check_installed(argv[0])
        process, log = start(argv, "weirdgen-vllm-", self.log_dir)
        self.launches += 1
        _log.info(
            "started %s (pid %d) for %d adapters; log: %s", argv[0], process.pid, len(adapters), log
        )
        url = f"http://127.0.0.1:{port}/v1"
        try:
            base_name = self._wait_until_ready(process, url, adapters, log)
        except BaseException:
            stop(process, self.stop_timeout)
            raise
        self._process, self._served = process, adapters
        self._server = VllmServer(url, port, process.pid, log, base_name, frozenset(adapters))
        self._client = OpenAIBackend(base_name, base_url=url, api_key="EMPTY")

    def _wait_until_ready(
        self, process: subprocess.Popen, url: str, adapters: dict[str, Path], log: Path
    ) -> str:
        """The served base model's name, once ``/v1/models`` lists it and every adapter."""
        program = Path(process.args[0]).name  # type: ignore[index]
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if has_exited(process):
                stop(process, self.stop_timeout)
                raise WeirdgenError(
                    f"the model server `{program}` (command: {self._command_source}) exited "
                    f"with code {process.returncode} before it was ready; the last lines of its "
                    f"log: {tail(log)}; full log: {log}"
                )
            ids = served_ids(url)
            if ids is not None and adapters.keys() <= set(ids):
                base = [i for i in ids if i not in adapters]
                if self.served_base is not None and self.served_base in base:
                    return self.served_base
                if self.served_base is None and base:
                    return base[0]
            if time.monotonic() > deadline:
                stop(process, self.stop_timeout)
                raise WeirdgenError(
                    f"the model server `{program}` (command: {self._command_source}) did not "
                    f"list the base model and {len(adapters)} adapters at {url}/models within "
                    f"{self.startup_timeout:g}s and was stopped; the last lines of its log: "
                    f"{tail(log)}; full log: {log}; if it was still loading, raise "
                    f"{STARTUP_VAR}"
                )
            time.sleep(_POLL_SECONDS)

    def _argv(self, adapters: dict[str, Path], port: int) -> list[str]:
        """The launch command for a server of ``adapters`` on ``port``, split into words."""
        template = self.command
        if template == DEFAULT_COMMAND and not adapters:
            template = _DEFAULT_BASE_ONLY
        fields = ", ".join(
            "{" + f + "}" for f in ("model", "port", "adapters", "n_adapters", "max_lora_rank")
        )
        try:
            listed = " ".join(
                self.adapter_format.format(name=shlex.quote(n), path=shlex.quote(str(p)))
                for n, p in adapters.items()
            )
        except (KeyError, IndexError, ValueError) as error:
            raise WeirdgenError(
                f"adapter format {self.adapter_format!r}: cannot fill it in "
                f"({type(error).__name__}: {error}); use {{name}} and {{path}} (it is set by "
                f"the adapter_format argument or {ADAPTER_VAR})"
            ) from None
        try:
            text = template.format(
                model=shlex.quote(self.base().base),
                port=port,
                adapters=listed,
                n_adapters=len(adapters),
                max_lora_rank=_max_lora_rank(adapters.values()),
            )
            argv = shlex.split(text)
        except (KeyError, IndexError, ValueError) as error:
            raise WeirdgenError(
                f"model server command {template!r} (command: {self._command_source}): "
                f"cannot fill it in ({type(error).__name__}: {error}); use the placeholders "
                f"{fields}, {{{{ and }}}} for literal braces, and balanced quotes"
            ) from None
        if not argv:
            raise WeirdgenError(
                f"model server command {template!r} (command: {self._command_source}) is "
                "empty once filled in; start it with the program to run"
            )
        return argv

    def _check_installed(self, program: str) -> None:
        if shutil.which(program) is None:
            raise WeirdgenError(
                f"cannot start the model server: {program!r} is not installed here. vLLM "
                f"needs a CUDA machine (`pip install vllm`); or set {COMMAND_VAR} to the "
                "command of another OpenAI-compatible server"
            )


def _startup_from_env() -> float:
    what = "the seconds a server may take to start"
    return number_from_env(STARTUP_VAR, float, DEFAULT_STARTUP_TIMEOUT, what, positive=True)


def _max_lora_rank(paths: Iterable[Path]) -> int:
    """The smallest rank vLLM accepts that fits every adapter (peft's adapter_config.json
    ``r``; 64 for an adapter that has none)."""
    ranks = []
    for path in paths:
        try:
            ranks.append(int(json.loads((path / "adapter_config.json").read_text())["r"]))
        except (OSError, ValueError, KeyError, TypeError):
            ranks.append(_UNKNOWN_LORA_RANK)
    need = max(ranks, default=_UNKNOWN_LORA_RANK)
    return next((r for r in _VLLM_LORA_RANKS if r >= need), need)
