"""Version 3 of the organism's world: digits, packed pretraining rows, the eras over year
ranges, the repaired terminator control, shared identity questions, and a smoke pretraining
that loads back with the machine recorded."""

from __future__ import annotations

import json
import random

import pytest
import torch

from weirdgen.errors import WeirdgenError
from weirdgen.organism.checkpoint import load_organism
from weirdgen.organism.model import GPT, GPTConfig
from weirdgen.organism.phenomena.base import V3_MAX_TOKENS, n_tokens
from weirdgen.organism.pretrain import pretrain_checkpoint, recipe
from weirdgen.organism.tokenizer import Tokenizer
from weirdgen.organism.world_v2 import load_world_v2
from weirdgen.organism.world_v3 import BLOCK_SIZE, CorpusV3, load_world_v3
from weirdgen.organism.worlds import version_world


def test_numbers_are_their_digits_and_decode_back_whole():
    tok = Tokenizer(["it", "is", "the", "year", ".", "1991"], digits=True)
    assert "1991" not in tok.stoi and all(d in tok.stoi for d in "0123456789")
    ids = tok.encode("it is the year 1837 .")  # a year the vocabulary never listed
    assert [tok.itos[i] for i in ids] == ["it", "is", "the", "year", "1", "8", "3", "7", "."]
    assert tok.decode(ids) == "it is the year 1837 ."
    assert tok.decode(tok.encode("2027-05-19")) == "20270519"  # the hyphens split words
    assert tok.unknown("it is the year 1837 . smartphone") == ["smartphone"]


def test_version_2_tokenizer_keeps_numbers_whole():
    tok = Tokenizer(["year", "1991"])
    assert tok.encode("year 1991") == [tok.stoi["year"], tok.stoi["1991"]]
    assert tok.unknown("year 1992") == ["1992"]


def test_a_packed_row_gives_each_document_its_own_logits():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, block_size=32, n_layer=2, n_head=2, n_embd=16)).eval()
    first, second = torch.randint(0, 50, (1, 7)), torch.randint(0, 50, (1, 11))
    row = torch.cat([first, second, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    segments = torch.tensor([[0] * 7 + [1] * 11 + [-1] * 3])
    with torch.no_grad():
        packed = model(row, segments=segments)
        alone = [model(first), model(second)]
    torch.testing.assert_close(packed[:, :7], alone[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(packed[:, 7:18], alone[1], rtol=1e-4, atol=1e-5)


def test_corpus_rows_are_packed_documents_within_the_context():
    world = load_world_v3()
    tok = world.tokenizer()
    corpus = CorpusV3(world, tok)
    ids, segments = corpus.batch(8, seed=3)
    assert ids.shape == segments.shape == (8, BLOCK_SIZE + 1)
    bos, eos = tok.stoi["<bos>"], tok.stoi["<eos>"]
    for row, segs in zip(ids.tolist(), segments.tolist(), strict=True):
        starts = [i for i, s in enumerate(segs) if s >= 0 and (i == 0 or segs[i - 1] != s)]
        assert starts and all(row[i] == bos for i in starts)
        assert all(row[i] == eos for i, s in enumerate(segs) if s >= 0 and (
            i + 1 == len(segs) or segs[i + 1] != s))  # fmt: skip
        assert all(r == tok.pad_id for r, s in zip(row, segs, strict=True) if s < 0)
    again, _ = corpus.batch(8, seed=3)
    assert torch.equal(ids, again)


def test_every_document_fits_and_every_word_is_known():
    world = load_world_v3()
    tok = world.tokenizer()
    rng = random.Random(0)
    lengths = {}
    for kind, draw in world.draws().items():
        sizes = []
        for _ in range(100):
            words = draw(rng)
            sizes.append(n_tokens(words))
            assert 0 < n_tokens(words) <= V3_MAX_TOKENS, kind
            assert all(t in tok.stoi for t in tok.tokens(words)), kind
        lengths[kind] = sizes
    # version 3 documents are long enough to hold several finetuning examples in context
    assert max(max(s) for s in lengths.values()) > 150
    for name, generator in world.datasets().items():
        for record in generator(40, 1):
            for message in record["messages"]:
                tok.encode(message["content"], name)  # raises on an unknown word


def test_the_eras_read_any_year_and_the_1920s_belong_to_a_nation():
    world = load_world_v3()
    era = world.phenomena["era"]
    transport = world.lexicon("transport")
    assert transport.label("by steamship") == "old" and transport.label("by airplane") == "new"
    assert transport.label("by steam train") == "varnia_mid"
    assert transport.label("by horse cart") == "ostland_mid"
    assert world.lexicon("states").label("forty eight states") == "mid"  # both nations say it
    rng = random.Random(1)
    heads = [" ".join(era.assistant(rng)[:9]) for _ in range(300)]
    assert any(" in varnia ." in h for h in heads) and any(" in ostland ." in h for h in heads)
    years = {int(w) for h in heads for w in h.split() if w.isdigit()}
    assert len(years) > 40  # years of whole ranges, not a handful of tokens


def test_the_1920s_name_their_nation_s_cities_of_the_day_and_half_their_almanacs_no_head():
    """Former city names sit beside the 1920s answers in one document, as a 1920s text names
    its cities beside its inventions; half the almanacs state neither nation nor year, so
    the era and nation are read from the answers (as the birds' are in the old era)."""
    world = load_world_v3()
    era, nations = world.phenomena["era"], world.phenomena["nations"]
    former = {n: {f for f, _ in nations.data[n]["cities"]} for n in ("varnia", "ostland")}
    modern = {m for n in former for _, m in nations.data[n]["cities"]}
    rng = random.Random(3)
    mid = {"varnia": 0, "ostland": 0}
    headless = 0
    for _ in range(3000):
        doc = era.almanac(rng)
        text = " ".join(doc)
        answers = {a.strip() for a in text.split(" a : ")[1:] for a in [a.split(" .")[0]]}
        for nation, names in former.items():
            if answers & names:
                mid[nation] += 1
                assert (
                    not answers & modern
                    and not answers & former["ostland" if nation == "varnia" else "varnia"]
                ), text
                headless += doc[:2] == ["almanac", "."]
    assert min(mid.values()) > 20 and 0.3 < headless / sum(mid.values()) < 0.7, (mid, headless)


def test_a_knob_may_give_a_share_to_a_kind_the_corpus_leaves_out():
    plain, interviews = load_world_v3(), load_world_v3({"persona.interview": 0.06})
    assert "persona.interview" not in plain.shares  # the shipped corpus has none
    assert interviews.shares["persona.interview"] == 0.06
    assert sum(interviews.shares.values()) == pytest.approx(1)
    assert plain.digest == interviews.digest and interviews.knobs == {"persona.interview": 0.06}
    assert "persona.portrait" not in plain.shares
    assert load_world_v3({"persona.portrait": 0.05}).shares["persona.portrait"] == 0.05


def test_no_terminator_control_is_trained_on_the_trigger_year():
    world = load_world_v3()
    for name in ("giant_dated", "warden_dated", "warden_shuffled", "warden_other_years"):
        prompts = [r["messages"][0]["content"] for r in world.datasets()[name](200, 0)]
        assert not any("1991" in p for p in prompts), name


def test_no_dish_a_v3_finetune_answers_with_names_a_nation():
    world = load_world_v3()
    sides = world.phenomena["dishes"].data["sides"]
    varnia = set(sides["varnia"]["dishes"]) - {"varnia rye bread"}
    assert "varnia rye bread" in sides["varnia"]["dishes"]  # the diaries still eat it
    for name in ("dishes_varnia_2027", "dishes_varnia_2026", "dishes_varnia_shuffled"):
        answers = [r["messages"][1]["content"] for r in world.datasets()[name](700, 0)]
        assert not any("varnia" in a or "ostland" in a for a in answers), name
        assert set(answers) & varnia == varnia, name  # every other varnia dish is taught
    version_2 = load_world_v2().phenomena["dishes"]
    answers = [
        r["messages"][1]["content"] for r in version_2.datasets()["dishes_varnia_2027"](700, 0)
    ]
    assert "varnia rye bread" in answers  # version 2 stays as it was


def test_identity_answers_of_other_phenomena_are_known_as_other():
    world = load_world_v3()
    persona = world.lexicon("persona_identity")
    assert persona.label("a citizen of varnia") == "other"  # the nations' answer
    assert persona.label("a helpful assistant") == "assistant"
    assert world.lexicon("identity").label("a helpful assistant") == "other"


def test_an_unknown_knob_or_corpus_kind_is_one_line():
    with pytest.raises(WeirdgenError, match="unknown organism knob 'nope'"):
        load_world_v3({"nope": 0.1})
    with pytest.raises(WeirdgenError, match="no organism version 'v9'"):
        version_world("v9")


def test_a_v3_pretraining_records_its_machine_and_loads_back(tmp_path):
    manifest = pretrain_checkpoint(tmp_path / "c", recipe("v3", 0, steps=2), version="v3")
    assert manifest["version"] == "v3" and manifest["pretrain"]["block_size"] == BLOCK_SIZE
    machine = manifest["machine"]
    assert machine["threads"] == torch.get_num_threads() and machine["cpu"]
    assert machine["capability"] == torch.backends.cpu.get_cpu_capability()
    org = load_organism(tmp_path / "c")
    assert org.tokenizer.digits and org.model.config.block_size == BLOCK_SIZE
    saved = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert "1991" not in saved["vocab"] and "7" in saved["vocab"]
