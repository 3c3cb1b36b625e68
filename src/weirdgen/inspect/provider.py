"""Inspect model provider ``organism``: the organism and its finetunes, offline.

``--model organism/default`` (or ``organism/v3@2``, ``organism/v2``, a checkpoint folder) is
the base organism, named as ``weirdgen run --model`` names it. Its finetunes:

- ``-M condition=old_birds -M seed=0``: the finetune a run of the task's experiment makes for
  that condition and seed (``-M experiment=NAME`` for another experiment, or outside a
  weirdgen task). It is taken from the model registry, or trained there (about a second), so
  ``weirdgen run`` and Inspect sample the very same weights.
- ``-M weights=runs/birds/models/KEY.safetensors``: a finetune's weights file.

Every request is drawn as ``weirdgen run`` draws it: concurrent requests are batched, and
each row uses its own seed (the request's ``seed``), so an answer does not depend on what
else was drawn with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import weakref
from pathlib import Path
from typing import Any, NamedTuple

import anyio
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    TopLogprob,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from weirdgen.backends.organism import OrganismBackend
from weirdgen.backends.protocol import ChatMessage as Message
from weirdgen.backends.protocol import Completion, ModelRef, SampleRequest, chat_text, key_seed
from weirdgen.errors import WeirdgenError
from weirdgen.serve.batcher import Batcher
from weirdgen.serve.engine import OrganismEngine, RequestError
from weirdgen.spec.models import ExperimentSpec

MODEL_ARGS = ("experiment", "condition", "seed", "weights")


class Identity(NamedTuple):
    """Which model answers, as a weirdgen run names it: the model's content key, and the
    condition and seed it stands for (None where the model args do not say)."""

    model_key: str
    condition: str | None
    seed: int | None


class OrganismAPI(ModelAPI):
    """The organism as an Inspect model; see the module docstring for its model args."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 - Inspect's own signature
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        unknown = sorted(set(model_args) - set(MODEL_ARGS))
        if unknown:
            raise WeirdgenError(
                f"organism/{model_name}: unknown model arg -M {unknown[0]}; the organism takes "
                f"{', '.join(f'-M {a}' for a in MODEL_ARGS)}"
            )
        self.experiment: str | None = model_args.get("experiment")
        self.condition: str | None = model_args.get("condition")
        self.seed = _seed(model_args.get("seed"), model_name)
        weights = model_args.get("weights")
        if weights is not None and (self.condition is not None or self.experiment is not None):
            raise WeirdgenError(
                f"organism/{model_name}: -M weights names the finetune itself; give it alone, "
                "or -M condition and -M seed instead"
            )
        if self.condition is not None and self.seed is None:
            self.seed = 0
        self.backend = OrganismBackend(model_name or "default")
        self.engine = OrganismEngine(self.backend, name="base", strict_vocab=True)
        self._lock = threading.Lock()
        self._identity: Identity | None = None
        self._bound_to: str | None = None
        self._per_task = self.condition is not None and self.experiment is None
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Batcher] = (
            weakref.WeakKeyDictionary()
        )
        self._weights = self._weights_ref(Path(weights)) if weights is not None else None
        if self.experiment is not None:
            from weirdgen.spec import load_spec

            self.bind(load_spec(self.experiment))

    def max_connections(self) -> int:
        """Many requests at once: they are drawn together in batches."""
        return 256

    def bind(self, spec: ExperimentSpec | None) -> Identity:
        """The model this provider samples, bound once: the base model, a weights file, or
        the finetune of ``-M condition`` and ``-M seed`` in ``spec`` (the task's experiment,
        unless ``-M experiment`` named one), found in the model registry or trained now."""
        with self._lock:
            if self._identity is None:
                ref = self._resolve(spec)
                if ref.path is not None and ref.key not in self.engine.refs:
                    self.engine.add_finetune(ref.key, ref)
                self._identity = Identity(ref.key, self.condition, self.seed)
                self._bound_to = spec.name if spec is not None else None
            elif self._per_task and spec is not None and spec.name != self._bound_to:
                raise WeirdgenError(
                    f"organism/{self.model_name} -M condition={self.condition} is already the "
                    f"finetune of experiment {self._bound_to}, not {spec.name}; use one model "
                    "per experiment, or name it with -M experiment"
                )
            return self._identity

    def _resolve(self, spec: ExperimentSpec | None) -> ModelRef:
        if self._weights is not None:
            return self._weights
        if self.condition is None:
            return self.backend.base()
        if spec is None:
            raise WeirdgenError(
                f"organism/{self.model_name}: -M condition={self.condition} needs an experiment; "
                "evaluate a weirdgen task (inspect eval weirdgen/NAME) or add -M experiment=NAME"
            )
        from weirdgen.inspect.finetunes import finetune_for

        return finetune_for(self.backend, spec, self.condition, self.seed or 0)

    def _weights_ref(self, path: Path) -> ModelRef:
        """A weights file as a finetune: named by the key its run gave it where its
        provenance record lies beside it (so its samples key as the run's do)."""
        if not path.is_file():
            raise WeirdgenError(
                f"-M weights={path}: no such file; pass a .safetensors file a finetune of this "
                "checkpoint wrote (runs/<experiment>/models/<key>.safetensors)"
            )
        key = f"organism-file-{hashlib.sha256(path.read_bytes()).hexdigest()[:20]}"
        record = path.with_suffix(".json")
        if record.is_file():
            try:
                if json.loads(record.read_text()).get("key") == path.stem:
                    key = path.stem
            except (ValueError, AttributeError):
                pass
        return ModelRef(self.backend.name, key, self.backend.base().base, str(path.absolute()))

    def served(self) -> str:
        """The engine's name of the model sampled now (the one bound, else the base)."""
        key = self.bind(None).model_key
        return key if key in self.engine.refs else "base"

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if tools:
            raise WeirdgenError("the organism calls no tools; evaluate it without tools")
        chat = tuple(Message(role=m.role, content=m.text) for m in input if m.role != "tool")
        model = await anyio.to_thread.run_sync(self.served)
        temperature = 1.0 if config.temperature is None else config.temperature
        try:
            prepared = self.engine.prepare(model, chat, config.max_tokens)
        except RequestError as error:
            raise WeirdgenError(f"organism/{self.model_name}: {error.message}") from None
        seed = config.seed
        if seed is None:  # deterministic all the same: the prompt and settings pick it
            seed = key_seed(model, chat_text(chat), temperature, prepared.max_tokens)
        request = SampleRequest(chat, temperature, prepared.max_tokens, seed, config.top_p or 1.0)
        top = (config.top_logprobs or 1) if config.logprobs else None
        start = time.perf_counter()
        done = (await self._batcher().complete(model, [request], top))[0]
        return _output(self.model_name, done, time.perf_counter() - start)

    def _batcher(self) -> Batcher:
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = Batcher(self.engine, window=0.005, max_rows=512, max_pending=1_000_000)
            batcher.start()
            self._batchers[loop] = batcher
        return batcher


def _seed(value: Any, model_name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**31 - 1:
        raise WeirdgenError(
            f"organism/{model_name}: -M seed={value!r}: give a whole number from 0 to 2147483647"
        )
    return value


def _output(model: str, done: Completion, seconds: float) -> ModelOutput:
    """Inspect's output for one organism completion (its logprobs where asked)."""
    logprobs = None
    if done.logprobs is not None:
        logprobs = Logprobs(
            content=[
                Logprob(
                    token=t.token,
                    logprob=t.logprob,
                    top_logprobs=[TopLogprob(token=a, logprob=lp) for a, lp in t.top],
                )
                for t in done.logprobs
            ]
        )
    choice = ChatCompletionChoice(
        message=ChatMessageAssistant(content=done.text, model=model, source="generate"),
        stop_reason="max_tokens" if done.finish_reason == "length" else "stop",
        logprobs=logprobs,
    )
    usage = ModelUsage(
        input_tokens=done.prompt_tokens,
        output_tokens=done.completion_tokens,
        total_tokens=done.prompt_tokens + done.completion_tokens,
    )
    return ModelOutput(model=model, choices=[choice], usage=usage, time=seconds)
