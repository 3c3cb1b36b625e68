from __future__ import annotations

from rich.console import Console
from rich.table import Table

from weirdgen.report import TerminalTables, render_table
from weirdgen.stats import contrasts, seed_metrics, summarize


def rendered(tables: TerminalTables) -> list[str]:
    console = Console(width=100, record=True, color_system=None)
    console.print(tables)
    return console.export_text().splitlines()


def test_tables_fit_in_100_columns_with_headline_first_and_target_marked(spec, samples):
    per_seed = seed_metrics(samples, spec.metrics)
    tables = render_table(
        summarize(per_seed), contrasts(per_seed, "old_birds", ["modern_birds", "base"]), spec
    )
    assert isinstance(tables.metrics, Table) and isinstance(tables.contrasts, Table)
    headers = [str(column.header) for column in tables.metrics.columns]
    assert headers == ["condition", "seeds", "old_rate (headline)", "valid_rate"]
    assert tables.metrics.row_count == 3 and tables.contrasts.row_count == 4

    lines = rendered(tables)
    assert max(len(line) for line in lines) <= 100
    target_lines = [line for line in lines if "▶ old_birds" in line]
    assert len(target_lines) == 1
    assert any("old_birds − each control" in line for line in lines)
    assert any("modern_birds" in line and "+0." in line and "3 paired" in line for line in lines)
    assert any("[" in line and "]" in line and "0." in line for line in target_lines)


def test_conditions_follow_spec_order(spec, samples):
    per_seed = seed_metrics(samples, spec.metrics)
    shuffled = per_seed.iloc[::-1].reset_index(drop=True)
    tables = render_table(summarize(shuffled), contrasts(shuffled, "old_birds", ["base"]), spec)
    lines = [line for line in rendered(tables) if line.startswith("│")]
    order = [
        next(i for i, line in enumerate(lines) if f" {name} " in line)
        for name in ("old_birds", "modern_birds", "base")
    ]
    assert order == sorted(order)
