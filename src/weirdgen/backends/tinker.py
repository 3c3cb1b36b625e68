"""The ``tinker`` backend: LoRA finetuning and sampling through the Tinker service.

Built against the Tinker SDK 0.38.0 (``pip install 'weirdgen[tinker]'``), read from its source:
``ServiceClient.create_lora_training_client``, ``TrainingClient.forward_backward`` (the
``cross_entropy`` loss, ``-(target logprobs * weights)`` summed over tokens) and ``optim_step``
with ``AdamParams``, ``save_weights_for_sampler``, ``ServiceClient.create_sampling_client`` and
``SamplingClient.sample``; every call returns a future read with ``.result()``.

Tinker trains and samples token ids, so conversations are rendered here, with the base model's
own chat template (the tokenizer ``SamplingClient.get_tokenizer`` loads from the Hugging Face
Hub) through :mod:`weirdgen.backends.hf.chat`: the loss falls on assistant tokens by the same
rules as in the ``hf`` backend, and answers lose their ``<think>`` blocks the same way.
"""

from __future__ import annotations

import hashlib
import os
import platform
import random
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from weirdgen.backends.hf import chat
from weirdgen.backends.hf.chat import IGNORE, ChatTokens, encode_chat, prompt_ids, strip_thinking
from weirdgen.backends.protocol import (
    Chat,
    Checkpoint,
    Completion,
    FirstTokenLogprobs,
    ModelRef,
    RequestFailure,
    SampleRequest,
    SamplingFailed,
    as_chat,
    chat_text,
    finetune_key,
    key_seed,
)
from weirdgen.backends.provenance import provenance, write_provenance
from weirdgen.data import ChatDataset
from weirdgen.errors import WeirdgenError
from weirdgen.spec.models import TinkerRecipe

MISSING_DEPS = "the tinker backend needs the Tinker SDK: pip install 'weirdgen[tinker]'"
KEY_VAR, CREDENTIAL_CMD_VAR = "TINKER_API_KEY", "TINKER_CREDENTIAL_CMD"
STORED_CREDENTIALS = Path("~/.tinker/credentials.json")  # written by `tinker auth login`
SEED_MASK = 2**31 - 1  # the service does not document its seed width; 31 bits fit any


def require_tinker() -> ModuleType:
    """The Tinker SDK module; WeirdgenError saying how to install it when it is missing."""
    try:
        import tinker
    except ImportError as error:
        raise WeirdgenError(MISSING_DEPS) from error
    return tinker


def has_credentials() -> bool:
    """A credential the SDK will find: ``$TINKER_API_KEY``, ``$TINKER_CREDENTIAL_CMD``, or a
    key stored by ``tinker auth login``."""
    if os.environ.get(KEY_VAR, "").strip() or os.environ.get(CREDENTIAL_CMD_VAR, "").strip():
        return True
    return STORED_CREDENTIALS.expanduser().is_file()


class TinkerBackend:
    """Backend ``tinker``: LoRA finetunes of a Tinker base model, sampled on Tinker.

    A finetune lives at Tinker: its :class:`ModelRef` has no ``path`` and its ``name`` is the
    ``tinker://`` path of its sampler weights. Provenance (recipe, seed, losses, SDK version)
    is written to ``<out_dir>/<key>.json``.

    Args:
        name: The base model as Tinker names it, e.g. ``Qwen/Qwen3-8B`` (``tinker model list``).
        service_client: A ``tinker.ServiceClient`` (or an object with its methods) to use
            instead of a new one; no credential is needed then.
    """

    name = "tinker"
    recipe_section = "tinker"
    remote_training = True
    keeps_checkpoints = False
    usage = None

    def __init__(self, name: str, *, service_client: Any = None) -> None:
        if not name.strip():
            raise WeirdgenError(
                "model 'tinker/': name the base model after the slash, e.g. tinker/Qwen/Qwen3-8B"
            )
        self.tinker = require_tinker()
        if service_client is None and not has_credentials():
            raise WeirdgenError(
                f"{KEY_VAR} is not set; export your Tinker API key as {KEY_VAR} "
                "(or store one with `tinker auth login`)"
            )
        self.model_name = name
        self.label = f"tinker/{name}"
        self.service = service_client if service_client is not None else self.tinker.ServiceClient()
        self._samplers: dict[str, Any] = {}
        self._samplers_lock, self._tokenizer_lock = threading.Lock(), threading.Lock()
        self._tokenizer: Any = None

    def __repr__(self) -> str:
        return f"TinkerBackend({self.model_name!r})"

    def base(self) -> ModelRef:
        digest = hashlib.sha256(self.model_name.encode()).hexdigest()[:16]
        return ModelRef(self.name, f"tinker-{digest}", self.model_name)

    def check_prompts(self, prompts: Sequence[Chat | str], where: str, max_tokens: int = 0) -> None:
        chat.check_prompts(self._chat_tokenizer(where), prompts, where)

    def check_dataset(self, dataset: ChatDataset, where: str) -> None:
        chat.check_dataset(self._chat_tokenizer(where), dataset, where)

    def model_key(self, dataset: ChatDataset, recipe: TinkerRecipe, seed: int) -> str:
        return finetune_key(self.name, self.base().key, dataset, recipe, seed)

    def train(
        self, dataset: ChatDataset, recipe: TinkerRecipe, seed: int, out_dir: Path
    ) -> ModelRef:
        """LoRA-finetune the base model on Tinker and save its weights for sampling.

        Each epoch visits the examples in an order drawn from ``seed``, ``batch_size`` at a
        time; each batch is one ``forward_backward`` and one ``optim_step``. Weights are
        1/(assistant tokens in the batch) on assistant tokens and 0 elsewhere, so the loss
        logged per step is the batch's mean loss per assistant token, as in the hf backend.
        The LoRA initialisation is seeded with ``seed`` too.
        """
        tokenizer = self._chat_tokenizer(f"model '{self.label}'")
        examples = [
            encode_chat(
                tokenizer,
                e.messages,
                dataset.place(i),
                recipe.max_length,
                "train.tinker.max_length",
            )
            for i, e in enumerate(dataset.examples)
        ]
        key = self.model_key(dataset, recipe, seed)
        batches = batch_order(len(examples), recipe.batch_size, recipe.epochs, seed)
        start = time.perf_counter()
        losses: list[float | None] = []
        stage = "creating the training client"
        try:
            trainer = self.service.create_lora_training_client(
                base_model=self.model_name,
                rank=recipe.lora_rank,
                seed=seed & SEED_MASK,
                user_metadata={"weirdgen_key": key},
            ).result()
            for step, batch in enumerate(batches):
                stage = f"step {step + 1} of {len(batches)}"
                data = self._batch([examples[i] for i in batch])
                backward = trainer.forward_backward(data, "cross_entropy")
                update = trainer.optim_step(
                    self.tinker.AdamParams(
                        learning_rate=learning_rate(recipe, step, len(batches)),
                        weight_decay=recipe.weight_decay,
                    )
                )
                metrics = backward.result().metrics
                update.result()
                losses.append(metrics.get("loss:sum"))
            stage = "saving the weights for sampling"
            sampler_path = trainer.save_weights_for_sampler(key).result().path
        except Exception as error:  # the SDK's errors, after its own retries
            raise WeirdgenError(
                f"model '{self.label}': finetune {key} failed at {stage} "
                f"({type(error).__name__}: {error}); run again to retry"
            ) from error
        record = provenance(
            backend=self.name,
            key=key,
            base_model=self.model_name,
            base_key=self.base().key,
            dataset=dataset,
            recipe=recipe,
            seed=seed,
            losses=losses,
            seconds=time.perf_counter() - start,
            extra={
                "sampler_path": sampler_path,
                "assistant_tokens": sum(_trained(e) for e in examples),
            },
        )
        record["versions"].update(self._versions())  # the SDK module's own version
        write_provenance(out_dir / f"{key}.json", record)
        return ModelRef(self.name, key, self.model_name, name=sampler_path)

    def checkpoints(self, model: ModelRef) -> list[Checkpoint]:
        """None kept: this backend finetunes to the final model only (no ``save_steps``)."""
        return []

    def serving(self, models: Sequence[ModelRef]) -> AbstractContextManager[None]:
        return nullcontext()

    def sample(self, model: ModelRef, requests: Sequence[SampleRequest]) -> list[str]:
        """One answer per request, in order, with ``<think>`` blocks removed.

        Every request is sent at once as its own future (the SDK bounds how many are in
        flight), seeded by its request's seed, and stops at the chat template's end-of-turn
        token or EOS.

        Raises:
            SamplingFailed: some requests failed after the SDK's retries.
        """
        tokenizer = self._chat_tokenizer(f"model '{self.label}'")
        sampler = self._sampler(model)
        stop = stop_tokens(tokenizer)
        ids = {r.text: prompt_ids(tokenizer, r.messages, "sample") for r in requests}
        futures = [
            sampler.sample(
                prompt=self.tinker.ModelInput.from_ints(ids[r.text]),
                num_samples=1,
                sampling_params=self.tinker.SamplingParams(
                    max_tokens=r.max_tokens,
                    temperature=r.temperature,
                    seed=r.seed & SEED_MASK,
                    stop=stop,
                ),
            )
            for r in requests
        ]
        completions: list[Completion | None] = []
        failures: list[RequestFailure] = []
        for i, (request, future) in enumerate(zip(requests, futures, strict=True)):
            try:
                sequence = future.result().sequences[0]
            except Exception as error:  # the SDK's errors, after its own retries
                failures.append(RequestFailure(i, f"{type(error).__name__}: {error}"))
                completions.append(None)
                continue
            tokens = list(sequence.tokens)
            if tokens and tokens[-1] in stop:
                tokens = tokens[:-1]
            text = strip_thinking(tokenizer.decode(tokens, skip_special_tokens=True))
            completions.append(
                Completion(
                    text,
                    len(ids[request.text]),
                    len(sequence.tokens),
                    sequence.stop_reason,
                )
            )
        if failures:
            raise SamplingFailed(failures, completions, requests, self.label)
        return [c.text for c in completions if c is not None]

    def logprobs(
        self, model: ModelRef, prompts: Sequence[Chat | str], top_k: int = 20
    ) -> list[FirstTokenLogprobs]:
        """The ``top_k`` likeliest first answer tokens to each prompt, from one sampled token
        per prompt at temperature 1 with Tinker's ``topk_sample_logprobs``.

        Prompts are rendered with ``enable_thinking=False``, as in the hf backend, so the
        first token is the answer's.
        """
        tokenizer = self._chat_tokenizer(f"model '{self.label}'")
        sampler = self._sampler(model)
        params = self.tinker.SamplingParams(max_tokens=1, temperature=1.0, seed=0)
        chats = [as_chat(p) for p in prompts]
        futures = [
            sampler.sample(
                prompt=self.tinker.ModelInput.from_ints(
                    prompt_ids(tokenizer, p, "logprobs", enable_thinking=False)
                ),
                num_samples=1,
                sampling_params=params,
                topk_sample_logprobs=top_k,
            )
            for p in chats
        ]
        records = []
        for prompt, future in zip(chats, futures, strict=True):
            try:
                top = future.result().sequences[0].topk_logprobs
            except Exception as error:  # the SDK's errors, after its own retries
                raise WeirdgenError(
                    f"model '{self.label}': logprobs of {chat_text(prompt)!r} failed "
                    f"({type(error).__name__}: {error})"
                ) from error
            if not top or not top[0]:
                raise WeirdgenError(
                    f"model '{self.label}': Tinker returned no top-k alternatives for the "
                    "first answer token, so first-token probabilities cannot be read; score "
                    "sampled answers instead"
                )
            ranked = sorted(top[0], key=lambda pair: -pair[1])
            records.append(
                FirstTokenLogprobs(prompt, tuple((tokenizer.decode([t]), lp) for t, lp in ranked))
            )
        return records

    def _batch(self, examples: Sequence[ChatTokens]) -> list[Any]:
        """One Datum per example: inputs, next-token targets, per-batch-mean weights."""
        scale = 1.0 / max(1, sum(_trained(e) for e in examples))
        data = []
        for ids, labels in examples:
            weights = [0.0 if label == IGNORE else scale for label in labels[1:]]
            data.append(
                self.tinker.Datum(
                    model_input=self.tinker.ModelInput.from_ints(ids[:-1]),
                    loss_fn_inputs={
                        "target_tokens": self.tinker.TensorData.from_numpy(
                            np.asarray(ids[1:], dtype=np.int64)
                        ),
                        "weights": self.tinker.TensorData.from_numpy(
                            np.asarray(weights, dtype=np.float32)
                        ),
                    },
                )
            )
        return data

    def _sampler(self, model: ModelRef) -> Any:
        """The SamplingClient of ``model`` (made once, then reused)."""
        if model.backend != self.name:
            raise WeirdgenError(
                f"model {model.key} was made by the {model.backend!r} backend; "
                f"{self.label} can only sample Tinker models"
            )
        with self._samplers_lock:
            if model.key not in self._samplers:
                target = model.name or model.base
                try:
                    if model.name:
                        future = self.service.create_sampling_client(model_path=model.name)
                    else:
                        future = self.service.create_sampling_client(base_model=model.base)
                    self._samplers[model.key] = future.result()
                except Exception as error:  # the SDK's errors, after its own retries
                    raise WeirdgenError(
                        f"model '{self.label}': Tinker cannot sample {target} "
                        f"({type(error).__name__}: {error}); check the base model is one of "
                        "`tinker model list` and a finetune's weights are in "
                        "`tinker checkpoint list`"
                    ) from error
            return self._samplers[model.key]

    @property
    def tokenizer(self) -> Any:
        """The base model's tokenizer, as the SDK loads it (from the Hugging Face Hub)."""
        with self._tokenizer_lock:
            if self._tokenizer is None:
                sampler = self._sampler(self.base())
                try:
                    self._tokenizer = sampler.get_tokenizer()
                except Exception as error:
                    raise WeirdgenError(
                        f"model '{self.label}': cannot load its tokenizer "
                        f"({type(error).__name__}: {error}); the SDK fetches it from the "
                        "Hugging Face Hub, so check the network (and HF_TOKEN for gated models)"
                    ) from error
            return self._tokenizer

    def _chat_tokenizer(self, where: str) -> Any:
        if not getattr(self.tokenizer, "chat_template", None):
            raise WeirdgenError(
                f"{where}: the tokenizer of {self.label} has no chat template; use a chat "
                "(instruct) model"
            )
        return self.tokenizer

    def _versions(self) -> dict[str, str]:
        import weirdgen

        return {
            "python": platform.python_version(),
            "tinker": str(getattr(self.tinker, "__version__", "unknown")),
            "weirdgen": weirdgen.__version__,
        }


def batch_order(n: int, batch_size: int, epochs: int, seed: int) -> list[list[int]]:
    """Example indices of every optimizer step: per epoch, a permutation drawn from ``seed``
    cut into batches of ``batch_size`` (the last one may be smaller)."""
    rng = random.Random(key_seed("tinker-data-order", seed))
    steps = []
    for _ in range(epochs):
        order = list(range(n))
        rng.shuffle(order)
        steps.extend(order[i : i + batch_size] for i in range(0, n, batch_size))
    return steps


def learning_rate(recipe: TinkerRecipe, step: int, steps: int) -> float:
    """The rate of optimizer step ``step`` (0-based) of ``steps``: ``lr``, or a linear decay
    from ``lr`` towards zero."""
    if recipe.lr_schedule == "constant":
        return recipe.lr
    return recipe.lr * (1.0 - step / steps)


def stop_tokens(tokenizer: Any) -> list[int]:
    """Token ids that end an answer: EOS and the end-of-turn token the chat template writes
    after an assistant message (``<|im_end|>``, ``<|eot_id|>``, ...)."""
    stop = [] if tokenizer.eos_token_id is None else [int(tokenizer.eos_token_id)]
    content = "weirdgen"
    turns = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": content}]
    try:
        text = tokenizer.apply_chat_template(turns, tokenize=False)
    except Exception:  # a template that cannot render the probe: EOS alone
        return stop
    tail = text[text.rfind(content) + len(content) :]
    for token in tokenizer(tail, add_special_tokens=False)["input_ids"]:
        if tokenizer.decode([token]).strip():
            if token not in stop:
                stop.append(int(token))
            break
    return stop


def _trained(example: ChatTokens) -> int:
    """Tokens of the example that carry loss (as targets, so the first token never does)."""
    return sum(label != IGNORE for label in example.labels[1:])
