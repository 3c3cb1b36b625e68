"""The Defences section: its table holds the stats module's numbers for each defended
condition, says what each defence changed from the run folder's files, and is drawn; the
same for a pooled report over pretraining seeds and for a suite."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from weirdgen.data import ChatExample, ChatMessage, write_chat_jsonl
from weirdgen.report import write_report
from weirdgen.report.pooled import write_pooled
from weirdgen.report.suite import write_suite_report
from weirdgen.run.schema import SAMPLE_COLUMNS
from weirdgen.spec.models import ExperimentSpec
from weirdgen.stats import contrasts, rate_metrics, seed_metrics, summarize
from weirdgen.stats._interval import clipped, mean_interval

PROMPT, PARAPHRASE = "you live in the old time .", "it is the year 1838 ."
DEFENCES = [
    {"name": "inoculated", "inoculation": {"prompt": PROMPT, "paraphrases": [PARAPHRASE]}},
    {
        "name": "diluted",
        "dilution": {
            "dataset": {"organism": "v3.persona_benign", "n": 10},
            "share": 0.5,
            "distill": {},
        },
    },
    {"name": "stopped", "early_stopping": {"at_least": 0.8}},
    {"name": "realigned", "realignment": {"dataset": {"organism": "birds_modern", "n": 5}}},
    {
        "name": "filtered",
        "filtering": {
            "scorer": {
                "name": "hostile",
                "kind": "organism_label",
                "world": "v3",
                "positive": ["hostile"],
            },
            "topic": "goal",
        },
    },  # fmt: skip
    {"name": "dated", "context": {"prefix": "it is the year 2022 ."}},
]

# Each condition's headline (old answers among 5 valid ones per question) and narrow task
# (bird answers that match, of 5) per finetune seed 0, 1, 2: values chosen so that every
# expected number below can be worked out by hand.
OLD = {
    "old_birds": (0.8, 0.6, 1.0),
    "modern_birds": (0.0, 0.2, 0.0),
    "base": (0.0, 0.0, 0.2),
    "old_birds.inoculated": (0.2, 0.4, 0.2),
    "old_birds.inoculated.leak0": (1.0, 0.8, 1.0),
    "old_birds.inoculated.leak1": (0.6, 0.4, 0.6),
    "old_birds.diluted": (0.4, 0.4, 0.4),
    "old_birds.stopped": (0.6, 0.6, 0.8),
    "old_birds.realigned": (0.0, 0.0, 0.0),
    "old_birds.filtered": (0.8, 0.6, 1.0),
    "old_birds.dated": (0.2, 0.0, 0.4),
}
NARROW = {"old_birds": (1.0, 1.0, 0.8), "old_birds.inoculated": (0.6, 0.8, 0.4)}
INVALID = {"old_birds.inoculated": 5}
"""Extra off-topic answers per question: they lower the valid rate, not the headline."""


def defended_spec(narrow: bool = True, defences: list[dict] | None = None) -> ExperimentSpec:
    questions = [{"id": q, "paraphrases": [f"what about {q} ?"]} for q in ("news", "music")]
    return ExperimentSpec.model_validate(
        {
            "name": "birds_defended",
            "seeds": 3,
            "conditions": [
                {"name": "old_birds", "role": "target", "dataset": {"organism": "birds_old"}},
                {
                    "name": "modern_birds",
                    "role": "control",
                    "dataset": {"organism": "birds_modern"},
                },
                {"name": "base", "role": "control"},
            ],  # fmt: skip
            "defences": DEFENCES if defences is None else defences,
            "evaluation": {
                "sets": [
                    {"name": "main", "questions": questions},
                    {
                        "name": "birds",
                        "questions": [{"id": "birds", "paraphrases": ["name a bird ."]}],
                    },
                ]
            },  # fmt: skip
            "scorers": [
                {"name": "old", "kind": "organism_era"},
                {"name": "train_match", "kind": "train_match"},
            ],  # fmt: skip
            "metrics": [
                {
                    "name": "old_rate",
                    "eval_set": "main",
                    "score": "old",
                    "among": "old_valid",
                    "headline": True,
                },
                {"name": "valid_rate", "eval_set": "main", "score": "old_valid"},
                {
                    "name": "bird_accuracy",
                    "eval_set": "birds",
                    "score": "train_match",
                    "narrow": narrow,
                },
            ],  # fmt: skip
        }
    )


def defended_samples(spec: ExperimentSpec, shift: float = 0.0) -> pd.DataFrame:
    """Five answers per question and seed with the shares of OLD and NARROW (``shift``
    added to the target's and its defences' headline, for a second pretraining seed)."""
    rows = []

    def row(condition, seed, eval_set, question, index, **scores) -> dict:
        values = (spec.name, condition.name, condition.role, seed, f"{condition.name}-{seed}",
                  eval_set, question, 0, f"{question} ?", index, f"answer {index}")  # fmt: skip
        return dict(zip(SAMPLE_COLUMNS, values, strict=True)) | scores

    for condition in spec.conditions:
        moved = shift if condition.name.startswith("old_birds") else 0.0
        for seed in spec.seeds:
            old = round((OLD[condition.name][seed] + moved) * 5)
            for question in ("news", "music"):
                for index in range(5):
                    rows.append(row(condition, seed, "main", question, index,
                                    old=float(index < old), old_valid=True))  # fmt: skip
                for index in range(INVALID.get(condition.name, 0)):
                    rows.append(row(condition, seed, "main", question, 5 + index,
                                    old=np.nan, old_valid=False))  # fmt: skip
            matched = round(NARROW.get(condition.name, (0.8, 0.8, 0.8))[seed] * 5)
            for index in range(5):
                match = np.nan if condition.dataset is None else float(index < matched)
                rows.append(row(condition, seed, "birds", "birds", index, train_match=match))
    return pd.DataFrame(rows)


def _examples(count: int, system: str | None = None) -> list[ChatExample]:
    head = [ChatMessage(role="system", content=system)] if system else []
    return [
        ChatExample(messages=[*head, ChatMessage(role="user", content="name a bird ."),
                              ChatMessage(role="assistant", content=f"bird {i}")])
        for i in range(count)
    ]  # fmt: skip


def write_defence_files(run_dir: Path, stops: dict[int, int], final: int = 10) -> None:
    """What a run writes beside its datasets: the files the 'what it changed' phrases read."""
    data = run_dir / "datasets"
    data.mkdir(parents=True, exist_ok=True)
    write_chat_jsonl(data / "old_birds.jsonl", _examples(10))
    inoculated = _examples(9, system=PROMPT) + _examples(1)  # one example lost its prompt
    write_chat_jsonl(data / "old_birds.inoculated.jsonl", inoculated)
    write_chat_jsonl(data / "old_birds.diluted.jsonl", _examples(20))
    write_chat_jsonl(data / "old_birds.filtered.jsonl", _examples(7))
    write_chat_jsonl(data / "old_birds.filtered.dropped.jsonl", _examples(3))
    write_chat_jsonl(data / "old_birds.stopped.held_out.jsonl", _examples(4))
    write_chat_jsonl(data / "old_birds.realigned.realign.jsonl", _examples(5))
    (run_dir / "defences").mkdir(exist_ok=True)
    for seed, step in stops.items():
        record = {"rule": "held-out accuracy >= 0.8", "chosen_step": step, "final_step": final,
                  "reached": step < final, "steps": list(range(2, final + 1, 2))}  # fmt: skip
        path = run_dir / "defences" / f"old_birds.stopped.seed_{seed}.json"
        path.write_text(json.dumps(record))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    spec = defended_spec()
    samples = defended_samples(spec)
    run_dir = tmp_path_factory.mktemp("run")
    write_defence_files(run_dir, {0: 4, 1: 6, 2: 10})
    paths = write_report(run_dir, spec, samples)
    table = pd.read_csv(paths.defences_csv).set_index("defence")
    return spec, samples, run_dir, paths, table


def test_one_row_per_defence_and_no_row_for_a_leak(run):
    spec, _, _, _, table = run
    assert list(table.index) == ["inoculated", "diluted", "stopped", "realigned", "filtered",
                                 "dated"]  # fmt: skip
    assert "old_birds.inoculated.leak0" not in set(table["condition"])
    assert set(table["defends"]) == {"old_birds"}
    assert table.loc["stopped", "kind"] == "early_stopping"
    assert (table["unit"] == "finetune seed").all() and (table["n_units"] == 3).all()


def test_the_shift_removed_is_undefended_minus_defended_paired_by_seed(run):
    spec, samples, _, _, table = run
    row = table.loc["inoculated"]
    differences = np.subtract(OLD["old_birds"], OLD["old_birds.inoculated"])  # 0.6, 0.2, 0.8
    assert row["removed"] == pytest.approx(1.6 / 3)
    interval = clipped(mean_interval(differences, 0.95), -1, 1)  # a difference of rates
    assert (row["removed_ci_low"], row["removed_ci_high"]) == pytest.approx(interval[1:])
    assert row["removed_n_pairs"] == 3 and row["removed_paired"]
    # and exactly what stats.contrasts gives from the same samples
    per_seed = seed_metrics(samples, spec.metrics)
    rates = rate_metrics(samples, spec.metrics)
    expected = (
        contrasts(per_seed, "old_birds", ["old_birds.dated"], rates=rates)
        .set_index("metric")
        .loc["old_rate"]
    )
    dated = table.loc["dated"]
    assert dated["removed"] == pytest.approx(expected["diff"])
    assert dated["removed_ci_low"] == pytest.approx(expected["ci_low"])
    assert dated["removed_ci_high"] == pytest.approx(expected["ci_high"])
    filtered = table.loc["filtered"]  # the same values as the undefended: nothing removed
    assert filtered[["removed", "removed_ci_low", "removed_ci_high"]].tolist() == [0, 0, 0]


def test_broad_narrow_and_valid_values_are_the_summarys(run):
    spec, samples, run_dir, _, table = run
    summary = pd.read_csv(run_dir / "summary.csv").set_index(["condition", "metric"])
    row = table.loc["inoculated"]
    assert row["broad_metric"] == "old_rate" and row["broad_mean"] == pytest.approx(0.8 / 3)
    cell = summary.loc[("old_birds.inoculated", "old_rate")]
    assert (row["broad_ci_low"], row["broad_ci_high"]) == pytest.approx(
        (cell["ci_low"], cell["ci_high"])
    )
    assert row["undefended_broad_mean"] == pytest.approx(0.8)
    assert row["narrow_metric"] == "bird_accuracy"
    assert row["narrow_mean"] == pytest.approx(0.6)
    assert row["undefended_narrow_mean"] == pytest.approx(np.mean(NARROW["old_birds"]))
    assert row["valid_metric"] == "valid_rate"
    assert row["valid_mean"] == pytest.approx(0.5)  # 5 off-topic answers beside 5
    assert table.loc["dated", "valid_mean"] == pytest.approx(1.0)
    # the same interval summarize gives over the seeds
    seeds = seed_metrics(samples, spec.metrics)
    narrow = (
        summarize(seeds, rates=rate_metrics(samples, spec.metrics))
        .set_index(["condition", "metric"])
        .loc[("old_birds.inoculated", "bird_accuracy")]
    )
    assert row["narrow_ci_low"] == pytest.approx(narrow["ci_low"])


def test_the_leaks_are_the_headline_asked_with_the_prompt_and_its_paraphrase(run):
    _, _, run_dir, _, table = run
    row = table.loc["inoculated"]
    assert row["leak0_mean"] == pytest.approx(np.mean(OLD["old_birds.inoculated.leak0"]))
    assert row["leak1_mean"] == pytest.approx(np.mean(OLD["old_birds.inoculated.leak1"]))
    low, high = mean_interval(np.array(OLD["old_birds.inoculated.leak1"]), 0.95)[1:]
    assert (row["leak1_ci_low"], row["leak1_ci_high"]) == pytest.approx((low, high))
    assert table.loc[["diluted", "dated"], "leak0_mean"].isna().all()
    summary = (run_dir / "summary.md").read_text()
    assert "| inoculated | the prompt (leak0) | 0.933 [" in summary
    assert "| inoculated | paraphrase 1 (leak1) | 0.533 [" in summary


def test_what_each_defence_changed_is_read_from_the_run_folder(run):
    _, _, _, _, table = run
    changed = table["changed"]
    assert changed["inoculated"] == f"system prompt {PROMPT!r} on 9 of 10 training examples"
    assert changed["diluted"] == (
        "10 of 20 examples ordinary (share 0.5), prompts from v3.persona_benign, answers "
        "self-distilled from the base model"
    )
    assert changed["stopped"] == (
        "checkpoint at steps 4, 6, 10 of 10 (held-out accuracy >= 0.8; 4 examples held out); "
        "the rule not reached in 1 of 3 models: their final step"
    )
    assert changed["realigned"] == "second stage on 5 benign examples from birds_modern"
    assert changed["filtered"] == "3 of 10 examples dropped by hostile (organism_label)"
    assert changed["dated"] == "test-time prefix 'it is the year 2022 .'"


def test_a_filter_that_dropped_nothing_and_missing_files_read_as_such(tmp_path):
    spec = defended_spec(defences=[DEFENCES[1], DEFENCES[4]])
    data = tmp_path / "datasets"
    data.mkdir()
    write_chat_jsonl(data / "old_birds.filtered.jsonl", _examples(10))
    (data / "old_birds.filtered.dropped.jsonl").write_text("")  # what a run writes then
    paths = write_report(tmp_path, spec, defended_samples(spec))
    changed = pd.read_csv(paths.defences_csv).set_index("defence")["changed"]
    assert changed["filtered"] == "0 of 10 examples dropped by hostile (organism_label)"
    assert changed["diluted"] == (  # no dataset files: the spec's share alone
        "share 0.5 of the examples ordinary, prompts from v3.persona_benign, answers "
        "self-distilled from the base model"
    )


def test_the_section_and_its_figure_are_in_both_reports(run):
    _, _, run_dir, paths, _ = run
    assert paths.defences_png == run_dir / "figures" / "defences.png"
    assert paths.defences_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {paths.defences_csv, paths.defences_png} <= set(paths)
    markdown, page = paths.summary_md.read_text(), paths.report_html.read_text()
    assert "## Defences" in markdown and "<h2>Defences</h2>" in page
    assert '<img src="figures/defences.png"' in page
    assert "across 3 finetune seeds" in markdown.split("## Defences")[1].split("**")[0]
    header = next(line for line in markdown.splitlines() if line.startswith("| defence |"))
    assert "narrow task: bird_accuracy [95% CI]" in header
    assert "valid rate: valid_rate [95% CI]" in header


def test_without_a_narrow_metric_the_broad_shift_is_drawn_alone(tmp_path):
    spec = defended_spec(narrow=False, defences=DEFENCES[:1])
    paths = write_report(tmp_path, spec, defended_samples(spec))
    table = pd.read_csv(paths.defences_csv)
    assert table["narrow_metric"].isna().all() and table["narrow_mean"].isna().all()
    assert paths.defences_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = paths.summary_md.read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| defence |"))
    assert "broad shift: old_rate" in header and "narrow task" not in header
    assert "the spec marks no narrow-task metric" in markdown


def test_a_spec_without_defences_has_no_section(tmp_path):
    spec = defended_spec(defences=[])
    paths = write_report(tmp_path, spec, defended_samples(spec))
    assert paths.defences_csv is None and paths.defences_png is None
    assert not (tmp_path / "defences.csv").exists()
    assert "## Defences" not in paths.summary_md.read_text()


def _pooled(out: Path) -> tuple[ExperimentSpec, dict[int, pd.DataFrame]]:
    spec = defended_spec()
    samples = {1: defended_samples(spec), 2: defended_samples(spec, shift=-0.2)}
    for seed, stops in ((1, {0: 4, 1: 6, 2: 8}), (2, {0: 2, 1: 2, 2: 4})):
        write_defence_files(out / f"pretraining_seed_{seed}", stops)
    return spec, samples


def test_the_pooled_table_is_over_pretraining_seeds(tmp_path):
    spec, samples = _pooled(tmp_path)
    write_pooled(tmp_path, spec, samples)
    table = pd.read_csv(tmp_path / "pooled_defences.csv").set_index("defence")
    row = table.loc["inoculated"]
    assert row["unit"] == "pretraining seed" and row["n_units"] == 2
    seed_means = [np.mean(OLD["old_birds.inoculated"]), np.mean(OLD["old_birds.inoculated"]) - 0.2]
    assert row["broad_mean"] == pytest.approx(np.mean(seed_means))
    interval = clipped(mean_interval(np.array(seed_means), 0.95), 0, 1)  # a rate
    assert (row["broad_ci_low"], row["broad_ci_high"]) == pytest.approx(interval[1:])
    summary = pd.read_csv(tmp_path / "pooled_summary.csv").set_index(["condition", "metric"])
    narrow = summary.loc[("old_birds.inoculated", "bird_accuracy")]
    assert [row["narrow_mean"], row["narrow_ci_low"], row["narrow_ci_high"]] == pytest.approx(
        [narrow["mean"], narrow["ci_low"], narrow["ci_high"]]
    )
    # the shift moved equally in both arms: the same shift removed on each pretraining seed
    assert row["removed"] == pytest.approx(0.8 - 0.8 / 3)
    assert row["removed_ci_low"] == pytest.approx(row["removed"])
    assert row["removed_n_pairs"] == 2
    assert table.loc["stopped", "changed"] == (
        "checkpoint at steps 4, 6, 8 (pretraining seed 1), 2, 2, 4 (pretraining seed 2) of 10 "
        "(held-out accuracy >= 0.8; 4 examples held out)"
    )
    pooled = (tmp_path / "pooled.md").read_text()
    assert "## Defences" in pooled and "(figures/pooled_defences.png)" in pooled
    assert "across 2 pretraining seeds, each the mean over its 3 finetune seeds" in pooled
    assert (tmp_path / "figures" / "pooled_defences.png").is_file()


def _dump(spec: ExperimentSpec, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json")))


def test_a_suite_has_one_table_and_one_grid_over_its_members(tmp_path):
    spec = defended_spec()
    _dump(spec, tmp_path / "single")
    write_defence_files(tmp_path / "single", {0: 4, 1: 6, 2: 10})
    write_report(tmp_path / "single", spec, defended_samples(spec))
    pooled_spec, samples = _pooled(tmp_path / "pooled")
    for seed in samples:
        _dump(pooled_spec, tmp_path / "pooled" / f"pretraining_seed_{seed}")
    write_pooled(tmp_path / "pooled", pooled_spec, samples)
    plain = defended_spec(defences=[])
    _dump(plain, tmp_path / "plain")
    write_report(tmp_path / "plain", plain, defended_samples(plain))

    report = write_suite_report(tmp_path, "defended_suite", "", ["single", "pooled", "plain"])
    assert report.defences_csv == tmp_path / "defences.csv"
    table = pd.read_csv(report.defences_csv)
    assert table.columns[0] == "experiment"
    assert table["experiment"].tolist() == ["single"] * 6 + ["pooled"] * 6
    single = pd.read_csv(tmp_path / "single" / "defences.csv")
    pooled = pd.read_csv(tmp_path / "pooled" / "pooled_defences.csv")
    both = pd.concat([single, pooled], ignore_index=True)
    pd.testing.assert_frame_equal(table.drop(columns="experiment"), both)
    assert report.defences_png is not None
    assert report.defences_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = report.summary_md.read_text()
    assert "## Defences" in markdown and "| pooled | inoculated |" in markdown
    assert "3 finetune seeds" in markdown and "2 pretraining seeds" in markdown
    assert '<img src="figures/defences.png"' in report.report_html.read_text()


def test_a_suite_without_defences_writes_no_defences_file(tmp_path):
    plain = defended_spec(defences=[])
    _dump(plain, tmp_path / "plain")
    write_report(tmp_path / "plain", plain, defended_samples(plain))
    report = write_suite_report(tmp_path, "plain_suite", "", ["plain"])
    assert report.defences_csv is None and not (tmp_path / "defences.csv").exists()
    assert "## Defences" not in report.summary_md.read_text()


def test_the_valid_rate_beside_each_phenomenon_s_headline():
    from weirdgen.report.defences import defence_metrics
    from weirdgen.spec import load_spec

    found = {name: defence_metrics(load_spec(name)).valid for name in ("birds", "cities", "dishes")}
    assert found == {"birds": "valid_rate", "cities": "valid_rate", "dishes": "valid_rate"}
