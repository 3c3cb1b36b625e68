"""``weirdgen import`` refuses, in one line and writing nothing, what is not a weirdgen log
of one experiment or a folder weirdgen did not make; and takes any model's log that names
its condition."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from inspect_ai.solver import generate

from weirdgen.backends.organism import OrganismBackend
from weirdgen.errors import WeirdgenError
from weirdgen.inspect import import_logs
from weirdgen.inspect.tasks import experiment_task
from weirdgen.serve import OrganismEngine, serve_in_background


def test_a_missing_file_and_a_file_that_is_not_a_log(tmp_path):
    with pytest.raises(WeirdgenError, match="no such file"):
        import_logs([tmp_path / "nope.eval"], tmp_path / "run")
    text = tmp_path / "notes.eval"
    text.write_text("not a log\n")
    with pytest.raises(WeirdgenError, match="not an Inspect log"):
        import_logs([text], tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_log_of_another_task(tmp_path, evaluate):
    other = Task(dataset=[Sample(input="name a bird .", id="a")], solver=generate(), name="bird")
    log = evaluate(other)
    with pytest.raises(WeirdgenError, match="not of a weirdgen task.*inspect eval weirdgen/NAME"):
        import_logs([log], tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_an_unfinished_evaluation(tmp_path, evaluate, tiny_spec):
    task = experiment_task(str(tiny_spec()))
    log = evaluate(task, model_args={"condition": "no_such_condition"})
    with pytest.raises(WeirdgenError, match="did not finish.*eval-retry"):
        import_logs([log], tmp_path / "run")


def test_any_model_counts_for_the_condition_it_is_given(tmp_path, evaluate, tiny_spec):
    """Inspect's own OpenAI provider, against a real ``weirdgen serve`` on 127.0.0.1."""
    spec = str(tiny_spec())
    engine = OrganismEngine(OrganismBackend(), "organism/default")
    with serve_in_background(engine, window=0.02) as url:
        model = get_model("openai/organism/default", base_url=url, api_key="unused")
        log = evaluate(experiment_task(spec), model=model)
        named = evaluate(experiment_task(spec, condition="base", seed=3), model=model)
    with pytest.raises(WeirdgenError, match="no condition.*-T condition=NAME"):
        import_logs([log], tmp_path / "run")
    done = import_logs([named], tmp_path / "run", progress=False)
    assert set(done.samples["condition"]) == {"base"} and set(done.samples["seed"]) == {3}
    assert set(done.samples["model_key"]) == {"openai/organism/default"}
    assert set(done.samples["finish_reason"]) == {"stop"}
    assert done.samples["old_valid"].any()  # the organism's answers, scored by its lexicon
    assert done.missing == ["old_birds", "modern_birds"]  # no report until they are in
    assert (done.run_dir / "samples.parquet").is_file()
    assert not (done.run_dir / "report.html").exists()


def test_logs_of_two_experiments_or_two_of_one_model(tmp_path, evaluate, tiny_spec):
    first = evaluate(experiment_task(str(tiny_spec("tiny_a"))))
    second = evaluate(experiment_task(str(tiny_spec("tiny_b"))))
    with pytest.raises(WeirdgenError, match="its own run folder"):
        import_logs([first, second], tmp_path / "run")
    again = evaluate(experiment_task(str(tiny_spec("tiny_a"))))
    with pytest.raises(WeirdgenError, match="both hold condition base seed 0"):
        import_logs([first, again], tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_folder_weirdgen_did_not_make_is_left_alone(tmp_path, evaluate, tiny_spec):
    log = evaluate(experiment_task(str(tiny_spec())))
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "thesis.tex").write_text("mine\n")
    with pytest.raises(WeirdgenError, match="not a weirdgen run folder"):
        import_logs([log], mine)
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]


def test_into_a_run_of_another_experiment(tmp_path, evaluate, tiny_spec):
    done = import_logs([evaluate(experiment_task(str(tiny_spec("tiny_a"))))], tmp_path / "run")
    before = sorted(p.name for p in Path(done.run_dir).iterdir())
    other = evaluate(experiment_task(str(tiny_spec("tiny_b"))))
    with pytest.raises(WeirdgenError, match="holds a run of experiment 'tiny_a'"):
        import_logs([other], tmp_path / "run")
    assert sorted(p.name for p in Path(done.run_dir).iterdir()) == before


def test_a_second_import_adds_its_seeds_and_keeps_the_first(tmp_path, evaluate, tiny_spec):
    spec = str(tiny_spec())
    import_logs([evaluate(experiment_task(spec, seed=0))], tmp_path / "run", progress=False)
    done = import_logs([evaluate(experiment_task(spec, seed=1))], tmp_path / "run")
    assert sorted(set(done.samples["seed"])) == [0, 1]
    assert len(done.samples) == 2 * 2 * 3  # seeds x questions x paraphrases
