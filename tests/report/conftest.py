"""A small experiment spec and a matching synthetic samples table for the report tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from report_data import (
    make_samples,
    make_spec,
)

from weirdgen.report import ReportPaths, write_report
from weirdgen.spec.models import ExperimentSpec


@pytest.fixture(scope="module")
def spec() -> ExperimentSpec:
    return make_spec()


@pytest.fixture(scope="module")
def samples(spec: ExperimentSpec) -> pd.DataFrame:
    return make_samples(spec)


@pytest.fixture(scope="module")
def report(
    tmp_path_factory: pytest.TempPathFactory, spec: ExperimentSpec, samples: pd.DataFrame
) -> tuple[Path, ReportPaths]:
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, write_report(run_dir, spec, samples)


@pytest.fixture
def spec_with() -> Callable[..., ExperimentSpec]:
    return make_spec


@pytest.fixture
def samples_for() -> Callable[..., pd.DataFrame]:
    return make_samples
