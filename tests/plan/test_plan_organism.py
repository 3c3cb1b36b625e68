"""On the organism: the plan finds finetunes where the run does (its store, then the model
registry), says what a changed recipe or a raised n recomputes, and counts the calls of
judges that run locally (no number probe: the organism's own vocabulary says)."""

from __future__ import annotations

import pytest

import weirdgen
from weirdgen.plan import estimate

JUDGES = [
    {
        "name": "rated",
        "kind": "rating_judge",
        "model": "organism/default",
        "prompt": "{question} {answer}",
        "samples": 2,
    },
    {
        "name": "labeled",
        "kind": "label_judge",
        "model": "organism/default",
        "prompt": "{question} {answer}",
        "labels": ["yes", "no"],
        "max_tokens": 2,
    },
]


@pytest.fixture
def spec(spec_dict, write_spec):
    """Birds with 2 seeds, 2 unrelated questions, 3 samples per paraphrase, and the
    organism as a rating and a label judge."""
    spec = spec_dict(seeds=2)
    spec["evaluation"]["n"] = 3
    spec["evaluation"]["sets"][0]["questions"] = spec["evaluation"]["sets"][0]["questions"][:2]
    spec["scorers"] += JUDGES
    return weirdgen.load_spec(write_spec(spec))


def test_finetunes_samples_and_local_judges_are_counted_as_the_run_finds_them(spec, tmp_path):
    before = estimate(spec, out=tmp_path / "a")
    finetunes = 2 * 2  # two finetuned conditions x two seeds
    samples = 3 * 2 * (2 * 3 + 3) * 3  # conditions x seeds x paraphrases x n
    assert (before.finetunes, before.samples) == (finetunes, samples)
    assert all(r.exact and r.usd == 0 for r in before.rows)  # its own tokenizer; local: free
    assert before.stage("finetune")[0].training_tokens > 0
    # Its vocabulary lacks some numbers 0-100: ratings are sampled, 2 calls per answer, and
    # no number probe is asked (nor assumed).
    assert before.judge("rated").needed == 2 * samples and not before.judge("rated").assumed
    assert before.judge("labeled").needed == samples
    result = weirdgen.run_experiment(spec, out=tmp_path / "a", progress=False)
    pairs = len(result.samples[["prompt", "answer"]].drop_duplicates())
    # Identical answers to one question are judged once: the plan was an upper bound.
    assert result.work.judged["rated"]["made"] == 2 * pairs <= before.judge("rated").todo
    assert result.work.judged["labeled"]["made"] == pairs <= before.judge("labeled").todo

    assert estimate(spec, out=tmp_path / "a").done
    elsewhere = estimate(spec, out=tmp_path / "b")  # the registry has its finetunes
    assert elsewhere.finetunes == 0 and elsewhere.stage("finetune")[0].stored == finetunes
    assert elsewhere.samples == samples
    more = estimate(spec, out=tmp_path / "a", n=4)  # only the new sample index is drawn
    assert more.samples == 3 * 2 * 9 and more.finetunes == 0
    assert more.judge("labeled").todo == more.samples

    recipe = spec.train.organism.model_copy(update={"lr": 1e-4})
    changed = spec.model_copy(update={"train": spec.train.model_copy(update={"organism": recipe})})
    changed.source = spec.source
    retrained = estimate(changed, out=tmp_path / "a")
    assert retrained.finetunes == finetunes  # another recipe: new finetunes, new samples
    assert retrained.samples == 2 * 2 * 9 * 3  # the base model's samples are kept
