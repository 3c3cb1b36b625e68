"""On the organism: the plan finds finetunes where the run does (its store, then the model
registry), and says what a changed recipe or a raised n recomputes."""

from __future__ import annotations

import weirdgen
from weirdgen.plan import estimate


def test_finetunes_and_samples_are_found_where_the_run_finds_them(small_birds, tmp_path):
    spec = weirdgen.load_spec(small_birds)
    before = estimate(spec, out=tmp_path / "a")
    finetunes = 2 * 2  # two finetuned conditions x two seeds
    samples = 3 * 2 * (2 * 3 + 3) * 3  # conditions x seeds x paraphrases x n
    assert (before.finetunes, before.samples) == (finetunes, samples)
    assert all(r.exact and r.usd == 0 for r in before.rows)  # its own tokenizer; local: free
    assert before.stage("finetune")[0].training_tokens > 0
    weirdgen.run_experiment(spec, out=tmp_path / "a", progress=False)

    assert estimate(spec, out=tmp_path / "a").done
    elsewhere = estimate(spec, out=tmp_path / "b")  # the registry has its finetunes
    assert elsewhere.finetunes == 0 and elsewhere.stage("finetune")[0].stored == finetunes
    assert elsewhere.samples == samples
    more = estimate(spec, out=tmp_path / "a", n=4)  # only the new sample index is drawn
    assert more.samples == 3 * 2 * 9 and more.finetunes == 0

    recipe = spec.train.organism.model_copy(update={"lr": 1e-4})
    changed = spec.model_copy(update={"train": spec.train.model_copy(update={"organism": recipe})})
    changed.source = spec.source
    retrained = estimate(changed, out=tmp_path / "a")
    assert retrained.finetunes == finetunes  # another recipe: new finetunes, new samples
    assert retrained.samples == 2 * 2 * 9 * 3  # the base model's samples are kept
