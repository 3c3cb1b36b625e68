"""What each defence changed, in a short phrase read from the spec as run and its run folders.

A run folder keeps what a defence did beside the condition's own dataset
(``datasets/<condition>.jsonl``, the data it was finetuned on): ``<condition>.dropped.jsonl``
(a filter's dropped examples), ``<condition>.held_out.jsonl`` (early stopping's held-out
examples), ``<condition>.realign.jsonl`` (re-alignment's benign data) and
``defences/<condition>.seed_<S>.json`` (the checkpoint early stopping chose for seed S). A
pooled run has one folder per pretraining seed; the phrase then covers all of them (a count
that differs between folders reads as a range).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from weirdgen.data import ChatExample, load_chat_jsonl
from weirdgen.defences import Defence
from weirdgen.spec.models import Condition, DatasetRef, ExperimentSpec


def defence_of(spec: ExperimentSpec, condition: Condition) -> Defence | None:
    """The spec's defence that made ``condition`` (None for an undefended one)."""
    if condition.defence is None:
        return None
    return next((d for d in spec.defences if d.name == condition.defence.name), None)


def what_changed(spec: ExperimentSpec, condition: Condition, folders: Sequence[Path]) -> str:
    """A short phrase saying what the defence that made ``condition`` changed, e.g. "0 of 100
    examples dropped by hostile (organism_label)"; counts come from ``folders`` (the run
    folder, or each pretraining seed's), and are left out where their files are missing."""
    assert condition.defence is not None
    defence = defence_of(spec, condition)
    if defence is None:
        return f"{condition.defence.kind.replace('_', ' ')} (not in the spec's defences)"
    phrase = _PHRASES[defence.kind]
    return phrase(defence, condition, _Files(condition.name, condition.defence.of, folders))


class _Files:
    """A defended condition's files in each folder it was run into."""

    def __init__(self, name: str, of: str, folders: Sequence[Path]) -> None:
        self.name, self.of, self.folders = name, of, [Path(f) for f in folders]

    def examples(self, part: str = "", name: str | None = None) -> list[list[ChatExample]]:
        """The examples of ``datasets/<name>[.<part>].jsonl`` in each folder that has it."""
        file = f"{name or self.name}{'.' + part if part else ''}.jsonl"
        found = []
        for folder in self.folders:
            path = folder / "datasets" / file
            if path.is_file():
                empty = not path.read_text(encoding="utf-8").strip()
                found.append([] if empty else list(load_chat_jsonl(path).examples))
        return found

    def stops(self) -> list[tuple[str, list[dict]]]:
        """Early stopping's records per folder (its name, and the records by seed), for the
        folders that have any."""
        found = []
        for folder in self.folders:
            paths = sorted((folder / "defences").glob(f"{self.name}.seed_*.json"), key=_seed)
            records = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
            if records:
                found.append((folder.name.replace("_", " "), records))
        return found


def _seed(path: Path) -> int:
    found = re.search(r"\.seed_(\d+)\.json$", path.name)
    return int(found.group(1)) if found else -1


def _spread(counts: Sequence[int]) -> str:
    """'100', or '98–102' when the folders differ."""
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}–{high}"


def _source(ref: DatasetRef) -> str:
    return ref.organism or ref.paper or Path(ref.path or "?").name


def _inoculation(defence: Defence, condition: Condition, files: _Files) -> str:
    assert defence.inoculation is not None
    prompt = defence.inoculation.prompt
    trained = files.examples()
    where = "on every training example"
    if trained:
        with_prompt = [sum(_has_system(e, prompt) for e in examples) for examples in trained]
        totals = [len(examples) for examples in trained]
        if with_prompt != totals:
            where = f"on {_spread(with_prompt)} of {_spread(totals)} training examples"
    return f"system prompt {prompt!r} {where}"


def _has_system(example: ChatExample, prompt: str) -> bool:
    first = example.messages[0]
    return first.role == "system" and first.content.startswith(prompt)


def _dilution(defence: Defence, condition: Condition, files: _Files) -> str:
    dilution = defence.dilution
    assert dilution is not None
    mixed, narrow = files.examples(), files.examples(name=files.of)
    if mixed and len(mixed) == len(narrow):
        ordinary = [len(m) - len(n) for m, n in zip(mixed, narrow, strict=True)]
        share = f"{_spread(ordinary)} of {_spread([len(m) for m in mixed])} examples ordinary"
        share += f" (share {dilution.share:g})"
    else:
        share = f"share {dilution.share:g} of the examples ordinary"
    source = _source(dilution.dataset)
    if dilution.distill is not None:
        return f"{share}, prompts from {source}, answers self-distilled from the base model"
    return f"{share} from {source}"


def _early_stopping(defence: Defence, condition: Condition, files: _Files) -> str:
    rule = defence.early_stopping
    assert rule is not None
    held = files.examples("held_out")
    held_out = f"{_spread([len(h) for h in held]) if held else rule.held_out} examples held out"
    stops = files.stops()
    if not stops:
        text = f"steps <= {rule.steps}" if rule.steps else f"held-out accuracy >= {rule.at_least}"
        return f"checkpoint chosen by {text}; {held_out} (no record in the run folder)"
    records = [record for _, found in stops for record in found]
    chosen = [", ".join(str(r["chosen_step"]) for r in found) for _, found in stops]
    if len(stops) > 1:  # a pooled run: say which pretraining seed's models chose which
        chosen = [f"{steps} ({folder})" for steps, (folder, _) in zip(chosen, stops, strict=True)]
    of = ", ".join(str(step) for step in sorted({r["final_step"] for r in records}))
    steps = "step" if len(records) == 1 else "steps"
    text = f"checkpoint at {steps} {', '.join(chosen)} of {of} ({records[0]['rule']}; {held_out})"
    missed = sum(not r["reached"] for r in records)
    if missed:
        text += f"; the rule not reached in {missed} of {len(records)} models: their final step"
    return text


def _realignment(defence: Defence, condition: Condition, files: _Files) -> str:
    realign = defence.realignment
    assert realign is not None
    benign = files.examples("realign")
    count = f"{_spread([len(b) for b in benign])} " if benign else ""
    text = f"second stage on {count}benign examples from {_source(realign.dataset)}"
    settings = [f"lr {realign.lr:g}"] if realign.lr is not None else []
    settings += [f"{realign.epochs} epochs"] if realign.epochs is not None else []
    return f"{text} ({', '.join(settings)})" if settings else text


def _filtering(defence: Defence, condition: Condition, files: _Files) -> str:
    filtering = defence.filtering
    assert filtering is not None
    entry = filtering.entry
    above = f", above {filtering.above:g}" if filtering.above is not None else ""
    scorer = f"{entry.name} ({entry.kind}{above})"
    dropped, kept = files.examples("dropped"), files.examples()
    if not dropped or len(dropped) != len(kept):
        return f"examples flagged by {scorer} dropped"
    totals = [len(d) + len(k) for d, k in zip(dropped, kept, strict=True)]
    count = _spread([len(d) for d in dropped])
    return f"{count} of {_spread(totals)} examples dropped by {scorer}"


def _context(defence: Defence, condition: Condition, files: _Files) -> str:
    context = defence.context
    assert context is not None
    parts = [f"test-time prefix {context.prefix!r}"] if context.prefix else []
    parts += [f"test-time system prompt {context.system!r}"] if context.system else []
    return "; ".join(parts)


_PHRASES = {
    "inoculation": _inoculation,
    "dilution": _dilution,
    "early_stopping": _early_stopping,
    "realignment": _realignment,
    "filtering": _filtering,
    "context": _context,
}
