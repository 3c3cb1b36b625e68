"""``weirdgen serve``: query a local model through an OpenAI-compatible HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from weirdgen.errors import WeirdgenError
from weirdgen.serve.limits import MB, FineTuningLimits, ServerLimits

if TYPE_CHECKING:
    from weirdgen.serve.engine import Engine

err = Console(stderr=True)
_LIMITS = FineTuningLimits()
_SERVER = ServerLimits()


def _limit_help(field: str, unit: str = "") -> str:
    description = FineTuningLimits.model_fields[field].description or field
    return f"Fine-tuning limit: {description[0].lower()}{description[1:].rstrip('.')}" + (
        f" ({unit})." if unit else "."
    )


def _server_help(field: str) -> str:
    return ServerLimits.model_fields[field].description or field


def serve(
    model: Annotated[
        str,
        typer.Option(
            help="Base model as provider/name, of a local backend: organism/... or hf/<model "
            "folder, fetched model or cached Hub id>."
        ),
    ] = "organism/default",
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Any but loopback (127.0.0.1, ::1, localhost) needs "
            "--api-key."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0: a free one).")
    ] = 8000,
    adapter: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=PATH",
            help="Also serve finetuned weights: clients ask for model NAME to get the "
            "safetensors file PATH (a finetune of the base, e.g. "
            "runs/<experiment>/models/<key>.safetensors). Repeatable. Organism only.",
        ),
    ] = None,
    batch_window_ms: Annotated[
        float,
        typer.Option(min=0, max=10_000, help="How long a request waits for others to batch with."),
    ] = 5.0,
    max_batch: Annotated[
        int, typer.Option(min=1, max=65_536, help="Most completions per batch.")
    ] = 256,
    max_queued: Annotated[
        int,
        typer.Option(
            min=1,
            max=10_000_000,
            help="Most completions waiting to be drawn; more requests get HTTP 503 "
            "(OpenAI clients retry).",
        ),
    ] = 4096,
    header_timeout: Annotated[
        float, typer.Option(min=0.001, max=86_400, help=_server_help("header_timeout"))
    ] = _SERVER.header_timeout,
    max_connections: Annotated[
        int, typer.Option(min=1, max=1_000_000, help=_server_help("connections"))
    ] = _SERVER.connections,
    finetuning: Annotated[
        bool | None,
        typer.Option(
            show_default=False,
            help="Also answer OpenAI's /v1/files and /v1/fine_tuning/jobs endpoints, training "
            "the organism for real and serving each finetune as ft:<model>:weirdgen:... "
            "(default: on for organism/ models; hf/ models are served without them).",
        ),
    ] = None,
    min_job_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            max=86_400,
            help="Least time a fine-tuning job runs, to act like a provider's queue (e.g. to "
            "test that a client resumes jobs it created).",
        ),
    ] = 0.0,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Keep uploaded files, fine-tuning jobs and their finetunes in this folder, so "
            "they outlive the server (default: a temp folder removed when it stops).",
        ),
    ] = None,
    max_upload_mb: Annotated[
        float, typer.Option(min=0.001, max=100_000, help=_limit_help("upload_bytes", "MB"))
    ] = _LIMITS.upload_bytes / MB,
    max_files: Annotated[int, typer.Option(min=1, help=_limit_help("files"))] = _LIMITS.files,
    max_stored_mb: Annotated[
        float, typer.Option(min=0.001, max=100_000_000, help=_limit_help("stored_bytes", "MB"))
    ] = _LIMITS.stored_bytes / MB,
    max_concurrent_checks: Annotated[
        int, typer.Option(min=1, max=1024, help=_limit_help("checks"))
    ] = _LIMITS.checks,
    max_jobs: Annotated[int, typer.Option(min=1, help=_limit_help("jobs"))] = _LIMITS.jobs,
    max_examples: Annotated[
        int, typer.Option(min=1, help=_limit_help("examples"))
    ] = _LIMITS.examples,
    max_n_epochs: Annotated[
        int, typer.Option(min=1, help=_limit_help("n_epochs"))
    ] = _LIMITS.n_epochs,
    max_batch_size: Annotated[
        int, typer.Option(min=1, help=_limit_help("batch_size"))
    ] = _LIMITS.batch_size,
    max_learning_rate_multiplier: Annotated[
        float, typer.Option(min=1e-9, help=_limit_help("learning_rate_multiplier"))
    ] = _LIMITS.learning_rate_multiplier,
    max_trained_examples: Annotated[
        int, typer.Option(min=1, help=_limit_help("trained_examples"))
    ] = _LIMITS.trained_examples,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="WEIRDGEN_SERVE_KEY",
            show_default=False,
            help="Require 'Authorization: Bearer KEY' on every request (the OpenAI client's "
            "api_key); others get HTTP 401. Required with a --host other than loopback. "
            "Better set in WEIRDGEN_SERVE_KEY than on the command line.",
        ),
    ] = None,
    strict_vocab: Annotated[
        bool,
        typer.Option(
            help="Organism: refuse (HTTP 400, naming them) prompts with words outside its "
            "vocabulary, instead of leaving those words out (named in the response's "
            "weirdgen.dropped_words and in the log), as clients' connection probes need."
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log fine-tuning jobs as they run.")
    ] = False,
) -> None:
    """Serve a local model over an OpenAI-compatible API (/v1/models, /v1/chat/completions,
    streamed or not, /v1/completions, /v1/responses).

    Point any OpenAI client at http://HOST:PORT/v1 (with --api-key's key, or any key on
    loopback without one) and ask for model organism/default, or an --adapter NAME. With
    `seed`, the same request gives the same answer, and seed=S with n=1 gives exactly what
    the organism backend samples for a request seeded S. Concurrent requests are sampled
    together in one batch.

    `--model hf/NAME` serves a Hugging Face model of the hf backend the same way (as model
    hf/NAME), e.g. as a local LLM judge: a judge with `model: openai/hf/NAME` and `base_url`
    the printed URL.

    The fine-tuning endpoints make the server a local stand-in for OpenAI's fine-tuning API:
    `weirdgen run SPEC --model openai/organism/default` with OPENAI_BASE_URL set to the
    printed URL uploads, creates jobs, polls and samples the finetunes, all offline.

    SIGINT (Ctrl-C) and SIGTERM stop the server within seconds, a job still training
    included (reported failed); the exit status is 130 after SIGINT and 143 after SIGTERM.
    """
    from weirdgen.serve import OrganismEngine, run_server
    from weirdgen.serve.finetuning import FineTuning

    if verbose:
        from weirdgen.cli._logging import enable

        enable(err)
    check_api_key(api_key)
    check_exposure(host, api_key)
    adapters = parse_adapters(adapter or [])
    engine = make_engine(model, adapters, finetuning, strict_vocab)

    def ready(url: str) -> None:
        names = ", ".join(engine.model_ids())
        keyed = ", API key required" if api_key else ""
        err.print(f"serving {names} at {url}  (Ctrl-C stops{keyed})", highlight=False)
        print(url, flush=True)

    limits = FineTuningLimits(
        upload_bytes=max(1, round(max_upload_mb * MB)),
        files=max_files,
        stored_bytes=max(1, round(max_stored_mb * MB)),
        checks=max_concurrent_checks,
        jobs=max_jobs,
        examples=max_examples,
        n_epochs=max_n_epochs,
        batch_size=max_batch_size,
        learning_rate_multiplier=max_learning_rate_multiplier,
        trained_examples=max_trained_examples,
    )
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    trains = finetuning is not False and isinstance(engine, OrganismEngine)
    jobs = FineTuning(engine, min_job_seconds, state_dir, limits) if trains else None
    stopped_by = run_server(
        engine,
        host,
        port,
        batch_window_ms / 1000,
        max_batch,
        on_ready=ready,
        finetuning=jobs,
        max_queued=max_queued,
        api_key=api_key,
        limits=ServerLimits(header_timeout=header_timeout, connections=max_connections),
    )
    err.print(f"stopped ({stopped_by.name})", highlight=False)
    raise typer.Exit(128 + stopped_by)


def make_engine(
    model: str, adapters: dict[str, Path], finetuning: bool | None, strict_vocab: bool = False
) -> Engine:
    """The engine serving ``model``: the organism's (with its adapters), or an hf model's
    (without adapters or the fine-tuning endpoints, which train the organism)."""
    from weirdgen.backends import get_backend
    from weirdgen.backends.hf import HfBackend
    from weirdgen.backends.organism import OrganismBackend
    from weirdgen.serve import HfEngine, OrganismEngine

    backend = get_backend(model)
    if isinstance(backend, OrganismBackend):
        return OrganismEngine(backend, model, adapters, strict_vocab)
    if not isinstance(backend, HfBackend):
        raise WeirdgenError(
            f"--model {model}: weirdgen serve serves local backends only (organism/..., "
            "hf/...); a remote model is already behind an HTTP API"
        )
    if adapters:
        raise WeirdgenError(
            "--adapter: serving adapters is organism-only for now; serve a full finetune of "
            f"{model} as a model of its own, --model hf/<its folder> (a LoRA finetune cannot "
            "be served yet)"
        )
    if finetuning:
        raise WeirdgenError(
            f"--finetuning: the fine-tuning endpoints train the organism only; serve {model} "
            "without --finetuning"
        )
    return HfEngine(backend, model)


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def check_exposure(host: str, api_key: str | None) -> None:
    """A server reachable from other machines must require a key (it trains and samples for
    whoever asks); a WeirdgenError (exit status 2) otherwise."""
    if host not in LOOPBACK and not api_key:
        raise WeirdgenError(
            f"--host {host}: a server reachable from other machines needs a key; set "
            "WEIRDGEN_SERVE_KEY (or pass --api-key KEY), or listen on 127.0.0.1"
        )


def check_api_key(api_key: str | None) -> None:
    """A key must be something to send: a blank one would leave the server open to anyone who
    sends a blank key, and one with spaces around it cannot survive an HTTP header (which
    loses them); a WeirdgenError (exit status 2) otherwise."""
    if api_key is None:
        return
    if not api_key.strip():
        raise WeirdgenError(
            "--api-key (or WEIRDGEN_SERVE_KEY) is blank; give a key of visible characters, "
            "e.g. python -c 'import secrets; print(secrets.token_urlsafe())', or leave it out "
            "to serve 127.0.0.1 without one"
        )
    if api_key != api_key.strip():
        raise WeirdgenError(
            "--api-key (or WEIRDGEN_SERVE_KEY) starts or ends with whitespace, which an HTTP "
            "Authorization header cannot carry; remove it (a newline read from a file, often)"
        )


def parse_adapters(specs: list[str]) -> dict[str, Path]:
    """``NAME=PATH`` flags as a name -> path mapping; a malformed one is a WeirdgenError."""
    adapters: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise WeirdgenError(
                f"--adapter {spec!r}: write NAME=PATH, e.g. "
                "--adapter old-birds=runs/birds/models/organism-ft-abc.safetensors"
            )
        if name.strip() in adapters:
            raise WeirdgenError(f"--adapter {spec!r}: the name {name.strip()!r} is given twice")
        adapters[name.strip()] = Path(path.strip()).expanduser()
    return adapters


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the ``weirdgen`` app."""
    app.command()(serve)
