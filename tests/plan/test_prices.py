"""The price table: where it is found, how a model is looked up, and one-line errors with
file:line for a bad entry."""

from __future__ import annotations

import platformdirs
import pytest

from weirdgen.errors import WeirdgenError
from weirdgen.plan import load_prices, price_file, shipped_prices

GOOD = """\
# my prices
models:
  openai/gpt-4.1-mini:
    input: 0.40
    output: 1.60
  openai/dear:
    input: 5
    output: 20
    finetuned_input: 7
"""


def test_a_bad_entry_is_one_line_with_file_and_line(tmp_path, cli):
    path = tmp_path / "prices.yaml"
    path.write_text(GOOD.replace("output: 20", "output: cheap"))
    code, _, err = cli("plan", "birds", "--prices", path)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {path}:8: price of openai/dear: output:")
    assert "'cheap'" in err and "USD per 1M tokens" in err


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        (GOOD.replace("finetuned_input", "finetuned_inptu"), 9, "finetuned_inptu"),
        (GOOD.replace("input: 5", "input: -5"), 7, "greater than or equal to 0"),
        (GOOD.replace("openai/dear:", "dear:"), 6, "name the model as provider/name"),
        (GOOD.replace("models:", "model:"), 2, "one mapping 'models:'"),
        (GOOD.replace("    input: 0.40", "  input: 0.40"), 5, "invalid YAML"),
        (GOOD + "  openai/dear:\n    input: 1\n", 10, "duplicate key 'openai/dear'"),
    ],
)
def test_each_kind_of_mistake_names_its_line(tmp_path, text, line, says):
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(WeirdgenError) as error:
        load_prices(path)
    message = str(error.value)
    assert message.startswith(f"{path}:{line}:") and says in message, message


def test_lookup_snapshots_local_providers_and_unknown_models(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(GOOD)
    table = load_prices(path)
    mini = table.find("openai/gpt-4.1-mini-2025-04-14")  # a dated snapshot: its model's price
    assert mini is not None and mini.input == 0.40
    assert table.find("organism/default").tokens(10**6, 10**6) == 0  # local: free
    assert table.find("hf/./llama").tokens(1, 1) == 0 and table.find("vllm/x").tokens(1, 1) == 0
    assert table.find("openai/gpt-5") is None  # not in this file: unknown, not free
    dear = table.find("openai/dear")
    assert dear.tokens(10**6, 10**6) == 25
    assert dear.tokens(10**6, 10**6, finetuned=True) == 27  # finetuned input, base output
    assert dear.training is None


def test_the_file_is_found_in_order_and_replaces_the_shipped_one(tmp_path, monkeypatch):
    shipped = load_prices()
    assert shipped.path == shipped_prices() and shipped.path.name == "prices.yaml"
    assert shipped.find("openai/gpt-4.1-mini").training is not None
    assert all(p.input is not None and p.output is not None for p in shipped.prices.values())
    config = tmp_path / "config"
    monkeypatch.setattr(platformdirs, "user_config_path", lambda name: config / name)
    (config / "weirdgen").mkdir(parents=True)
    (config / "weirdgen" / "prices.yaml").write_text(GOOD)
    assert price_file() == config / "weirdgen" / "prices.yaml"
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("WEIRDGEN_HOME", str(home))
    (home / "prices.yaml").write_text(GOOD.replace("0.40", "0.50"))
    table = load_prices()
    assert table.path == home / "prices.yaml" and table.find("openai/gpt-4.1-mini").input == 0.5
    assert table.find("openai/gpt-4.1") is None  # the shipped entries are not merged in
    explicit = tmp_path / "mine.yaml"
    explicit.write_text(GOOD)
    assert load_prices(explicit).path == explicit
    with pytest.raises(WeirdgenError, match="no such file"):
        load_prices(tmp_path / "missing.yaml")
