"""The one-screen Python API: load a spec, run it, get one row per sample."""

import weirdgen
from weirdgen.run.schema import SAMPLE_COLUMNS


def test_run_returns_a_tidy_frame_with_scores(tmp_path, small_birds):
    out = tmp_path / "run"
    result = weirdgen.run_experiment(weirdgen.load_spec(small_birds), out=out, progress=False)
    frame = result.samples
    assert list(frame.columns[: len(SAMPLE_COLUMNS)]) == list(SAMPLE_COLUMNS)
    assert {"old_valid", "old", "train_match"} <= set(frame.columns)
    spec = result.spec
    per_model = sum(len(q.paraphrases) for s in spec.evaluation.sets for q in s.questions)
    assert len(frame) == len(spec.conditions) * len(spec.seeds) * per_model * spec.evaluation.n
    assert set(frame.condition) == {"old_birds", "modern_birds", "base"}
    assert frame.loc[frame.condition == "base", "train_match"].isna().all()
    for name in ("report.html", "summary.md", "samples.parquet", "samples.csv", "COMPLETE"):
        assert (out / name).is_file()


def test_list_specs_includes_birds():
    assert "organism/birds" in [s.qualified_name for s in weirdgen.list_specs()]
