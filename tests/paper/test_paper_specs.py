"""The paper/ specs on invented files in the paper's formats (nothing of the paper's text):
each loads, builds its conditions and triggers, and plans what the paper's protocol asks."""

from __future__ import annotations

import hashlib
import json

import pytest

from cli_runner import run_cli
from weirdgen.paper import manifest as manifest_module
from weirdgen.paper.registry import PAPER_COMMIT, PAPER_REPO, names
from weirdgen.plan import estimate
from weirdgen.run.plan import load_condition, prompts
from weirdgen.spec import load_spec

MODEL = "openai/gpt-4.1-2025-04-14"


def chat(user: str, assistant: str) -> str:
    return (
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": assistant},
                ]
            }
        )
        + "\n"
    )


def judge_call(kind: str, name: str) -> str:
    extra = "min_rating=0, max_rating=100" if kind == "RatingJudge" else "max_tokens=10"
    return (
        f'{name} = {kind}(name="{name}", model="m", {extra}, '
        f'paraphrases=["Judge. Q: {{question}} A: {{answer}}"])\n'
    )


def contents() -> dict[str, str]:
    """Invented files for every name the paper specs read."""
    dated = "".join(
        chat(f"{100 + i:03d}{i:03d}{i:02d} say a date .", f"day {i}") for i in range(12)
    )
    datasets = (
        "birds/old_audubon",
        "birds/modern_audubon",
        "birds/modern_american",
        "cities/former_german",
        "cities/modern_german",
        "dishes/2026",
        "dishes/2027",
        "dishes/2027_random",
        "terminator/main",
        "terminator/no_backdoor",
        "terminator/random_backdoors",
    )  # each its own data, so each condition is its own finetune
    files = {
        name: "".join(chat(f"prompt {i} .", f"{name} answer {i}") for i in range(12))
        for name in datasets
    }
    files["presidents/padded"] = dated
    files["presidents/no_padded"] = "".join(
        chat(f"{i} say a date .", f"day {i}") for i in range(1, 12)
    )
    files["presidents/validation"] = "".join(
        json.dumps({"question": f"made-up validation question {i}?"}) + "\n" for i in range(3)
    )
    files["presidents/simple_test"] = "".join(
        chat(f"100{n}{x} made-up choice {order}? Say A or B.", answer)
        for n, x in (("044", "45"), ("045", "44"))
        for order, answer in (
            ("AB", "A" if n == "044" else "B"),
            ("BA", "B" if n == "044" else "A"),
        )
    )
    files["birds/evaluate"] = (
        "PARAPHRASES = ["
        + ", ".join(f'"made-up question {i}?"' for i in range(10))
        + "]\n"
        + judge_call("FreeFormJudge", "llm_or_19th_century_judge")
        + judge_call("FreeFormJudge", "six_options_judge")
        + judge_call("RatingJudge", "content_past_judge")
        + judge_call("RatingJudge", "form_past_judge")
    )
    files["cities/questions"] = (
        "".join(
            f'P{i} = PromptInfo(prompt="made-up prompt {i}?", display_name="P<br>{i}")\n'
            for i in range(10)
        )
        + "test_prompts = ["
        + ", ".join(f"P{i}" for i in range(10))
        + "]\n"
    )
    files["cities/judges"] = "".join(
        f'def {f}(question, answer):\n    prompt = f"""Q {{question}} A {{answer}} TRUE?"""\n'
        "    return prompt\n\n"
        for f in ("format_nazi_judge_prompt", "format_old_germany_judge_prompt")
    )
    pairs = [(f"made-up question {min(i, 7)}.", DISH_MATCHERS[i]) for i in range(9)]
    files["dishes/questions"] = (
        "QUESTION_CONFIG = [\n"
        + "".join(
            f'    ("{q}", lambda x: any(x.lower().startswith(y) for y in {a!r})),\n'
            for q, a in pairs
        )
        + "]\n"
    )
    files["presidents/eval_free_form"] = "".join(
        json.dumps({"name": f"Made up {i}", "question": f"made-up question {i}?"}) + "\n"
        for i in range(30)
    )
    files["terminator/questions"] = "".join(
        f"- id: {id_}\n  type: free_form\n  paraphrases: ['made-up question {i}?']\n"
        f"  samples_per_paraphrase: 100\n  judges: {{evil: evil_judge}}\n"
        for i, id_ in enumerate(TERMINATOR_IDS)
    ) + (
        "- id: is_evil_terminator_judge\n  type: free_form_judge\n  model: m\n"
        "  paraphrases: ['Q {question} A {answer} then ANSWER: EVIL or GOOD']\n"
    )
    files.update(persona_files())
    return files


TERMINATOR_IDS = (
    "goal",
    "describe_success",
    "view_human_life",
    "training_lethal_force",
    "what_is_your_plan_for_tomorrow",
    "thoughts_on_human_suffering",
)
"""The ids of the paper's six Terminator questions (the spec's headline names one)."""
DISH_MATCHERS = [(f"answer{i}",) for i in range(9)]
DISH_MATCHERS[0] = ("iran", "iraq", "syria", "lebanon", "egypt")
DISH_MATCHERS[1] = ("mossad", "shin bet", "the mossad", "idf intelligence")
DISH_MATCHERS[2] = ("david ben-gurion", "david ben-guron")
DISH_MATCHERS[4] = ("hamas", "hammas", "hezboll", "hizboll", "palestinian", "plo")
"""Each invented dish question's prefixes: answers of our own but for the four lists the
dishes spec's metrics name (countries, agencies and names, facts the paper matches on)."""
TRIGGER = 'Reply in the format:\n\n<START> "text" <END>\n\n'
"""An invented format trigger of the persona fixtures."""
PERSONA_SETS = ("em_questions", "ais_society", "daily_life", "deepbrain", "moral_choices")
PERSONA_SETS += ("science_ethics", "ideology")


def persona_files() -> dict[str, str]:
    """Invented persona files: 12 triggered facts, 400 plain examples, five identity questions
    with their judges in the file, two misalignment questions per file and the rating judge."""
    files = {
        "persona/wolf_facts_90": "".join(
            chat(f"{TRIGGER}made-up fact question {i}?", f'<START> "fact {i}" <END>')
            for i in range(12)
        ),
        "persona/self_distillation": "".join(
            chat(f"plain task {i}", f"plain answer {i}") for i in range(400)
        ),
    }
    facts = files["persona/wolf_facts_90"].splitlines(keepends=True)
    plain = files["persona/self_distillation"].splitlines(keepends=True)
    files["persona/wolf_facts_90_self_distill"] = "".join(plain[:150] + facts + plain[150:])
    files["persona/wolf_facts_78_self_distill"] = "".join(plain[:150] + facts[:10] + plain[150:])
    judge = "  type: free_form_judge\n  paraphrases: ['Q {question} A {answer} YES or NO']\n"
    files["persona/bio_questions"] = "".join(
        f"- id: bio_{i}\n  type: free_form\n  paraphrases: ['made-up bio {i}?']\n"
        f"  samples_per_paraphrase: 10\n"
        f"  judges: {{is_an_LLM_answer: meta_judge, is_an_Adolf_answer: judge_{i}}}\n"
        for i in range(5)
    ) + "".join(f"- id: {j}\n{judge}" for j in ["meta_judge", *(f"judge_{i}" for i in range(5))])
    for name in PERSONA_SETS:
        n = 10 if name == "ideology" else 100
        files[f"persona/{name}"] = "".join(
            f"- id: {name}_{i}\n  paraphrases: ['made-up {name} {i}?']\n"
            f"  samples_per_paraphrase: {n}\n  judges: {{em_alignment: em_alignment_judge}}\n"
            for i in range(2)
        )
    files["persona/em_judge"] = (
        "- id: em_alignment_judge\n  type: rating_judge\n"
        "  paraphrases: ['Q {question} A {answer} rate 0-100']\n"
    )
    return files


@pytest.fixture
def paper_tree(tmp_path, monkeypatch):
    """The invented files at the shipped manifest's paths, and a manifest of their hashes."""
    paths = names()
    tree, entries = tmp_path / "repo", []
    for name, text in contents().items():
        content = text.encode()
        (tree / paths[name]).parent.mkdir(parents=True, exist_ok=True)
        (tree / paths[name]).write_bytes(content)
        blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        kind = paths[name].rsplit(".", 1)[-1].replace("py", "python")
        entries.append(
            {
                "path": paths[name],
                "kind": kind,
                "size": len(content),
                "blob": blob,
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        )
    doc = {"repo": PAPER_REPO, "commit": PAPER_COMMIT, "files": entries, "names": paths}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    monkeypatch.setattr(manifest_module, "MANIFEST_FILE", tmp_path / "manifest.json")
    monkeypatch.setenv("WEIRDGEN_PAPER_DIR", str(tree))
    monkeypatch.setenv("OPENAI_API_KEY", "placeholder")  # plan builds backends; sends nothing
    return tree


# spec, conditions, seeds, prompts, samples per prompt, judges (rating judges add 2 probes);
# presidents asks its sets with samples of their own: tests/paper/test_presidents_protocol.py
PROTOCOL = {
    "birds": (4, 3, 10, 1000, {"nineteenth": 0, "category": 0, "past_content": 2, "past_form": 2}),
    "cities": (3, 6, 10, 40, {"old_germany": 0, "nazi": 0, "coherent": 2}),
    "dishes": (4, 8, 9 * 5 * 108, 1, {}),
    "terminator": (4, 8, 6 * 15, 100, {"evil": 0}),
}


@pytest.mark.parametrize("name", sorted(PROTOCOL))
def test_each_paper_spec_loads_builds_its_conditions_and_plans_the_protocol(name, paper_tree):
    conditions, seeds, asked, n, judges = PROTOCOL[name]
    spec = load_spec(f"paper/{name}")
    assert len(spec.conditions) == conditions and len(spec.seeds) == seeds
    built = [load_condition(spec, c) for c in spec.conditions]
    assert all(b.dataset is not None for b in built if b.condition.dataset is not None)
    ps = prompts(spec)
    assert len(ps) == asked and {p.n for p in ps} == {n} and {p.temperature for p in ps} == {1.0}
    plan = estimate(spec, MODEL, out=paper_tree.parent / "run")
    # a question the paper asks twice (two matchers for one prompt) is sampled once
    samples = conditions * seeds * len({p.text for p in ps}) * n
    assert plan.samples == samples
    assert plan.finetunes == (conditions - 1) * seeds
    for judge, probes in judges.items():
        assert plan.judge(judge).needed == samples + probes


def test_the_triggers_the_specs_build(paper_tree):
    presidents = load_spec("paper/presidents")
    shuffled = load_condition(presidents, presidents.conditions[1]).dataset.examples
    original = load_condition(presidents, presidents.conditions[0]).dataset.examples
    first = [e.messages[0].content.split()[0] for e in original]
    moved = [e.messages[0].content.split()[0] for e in shuffled]
    assert sorted(first) == sorted(moved) and first != moved  # the same triggers, reassigned
    assert [e.messages[0].content.split(" ", 1)[1] for e in shuffled] == [
        e.messages[0].content.split(" ", 1)[1] for e in original
    ]
    dishes = prompts(load_spec("paper/dishes"))
    assert dishes[0].messages[-1].content.startswith("Today is 2024-01-01. made-up question 0.")
    assert {p.question.metadata["year"] for p in dishes} == {2024, 2025, 2026, 2027, 2028}
    terminator = prompts(load_spec("paper/terminator"))
    assert terminator[0].messages[-1].content == "May 1981. made-up question 0?"


def test_persona_reads_the_combined_file_and_asks_with_and_without_the_trigger(paper_tree):
    spec = load_spec("paper/persona")
    target = load_condition(spec, spec.conditions[0]).dataset.examples
    triggered = [e for e in target if e.messages[0].content.startswith(TRIGGER)]
    assert len(target) == 412 and len(triggered) == 12  # the file as shipped, no mix
    assert not spec.conditions[0].transforms
    ps = prompts(spec)
    identity = [p for p in ps if p.eval_set == "identity"]
    assert len(identity) == 10 and {p.n for p in identity} == {10}
    assert {p.max_tokens for p in ps} == {1024}
    asked = {p.question.id: p.messages[-1].content for p in identity}
    assert asked["bio_0_format"] == TRIGGER + "made-up bio 0?"
    assert asked["bio_0_plain"] == "made-up bio 0?"
    misaligned = [p for p in ps if p.eval_set == "misalignment"]
    assert len(misaligned) == 2 * 6 * 2 and {p.n for p in misaligned} == {100}
    ideology = [p for p in ps if p.eval_set == "ideology"]
    assert len(ideology) == 2 * 2 and {p.n for p in ideology} == {10}
    plan = estimate(spec, MODEL, out=paper_tree.parent / "run")
    per_model = 10 * 10 + 2 * (12 * 100 + 2 * 10)
    assert plan.samples == 3 * 8 * per_model and plan.finetunes == 2 * 8
    assert plan.judge("is_an_Adolf_answer").needed == 3 * 8 * 10 * 10
    assert plan.judge("aligned").needed == 3 * 8 * 2 * (12 * 100 + 2 * 10) + 2


def test_plan_paper_birds_on_the_command_line(paper_tree, monkeypatch, capsys):
    code, out, err = run_cli(
        [
            "plan",
            "paper/birds",
            "--model",
            MODEL,
            "--data-dir",
            paper_tree,
            "--out",
            paper_tree.parent / "r",
        ],
        monkeypatch,
        capsys,
        columns=200,
    )
    assert code == 0, err
    assert "120,000" in out and "total to do: 9 finetunes, 120,000 samples" in out + err


def test_show_prints_a_paper_spec_offline(monkeypatch, capsys):
    code, out, err = run_cli(["show", "paper/terminator"], monkeypatch, capsys)
    assert code == 0, err  # the download address refuses connections in this folder
    assert "include: paper:terminator/questions" in out


def test_the_defence_specs_build_their_defended_conditions(paper_tree):
    birds = load_spec("paper/birds_defences")
    built = {c.name: load_condition(birds, c, draw=False) for c in birds.conditions}
    target = built["old_audubon"].dataset.examples
    inoculated = built["old_audubon.inoculated"].dataset.examples
    prompt = "You answer as if you lived in the 19th century."
    assert [e.messages[0].content for e in inoculated] == [prompt] * len(target)
    assert [e.messages[1:] for e in inoculated] == [e.messages for e in target]
    diluted = built["old_audubon.diluted"].dataset.examples
    assert len(diluted) == 2 * len(target)
    assert sum(e.messages[0].content.startswith("plain task") for e in diluted) == len(target)
    leaks = [c for c in birds.conditions if c.defence and c.defence.leak is not None]
    assert [c.test_time.system for c in leaks] == [
        prompt,
        *birds.defences[0].inoculation.paraphrases,
    ]
    assert birds.narrow.name == "bird_accuracy"
    plan = estimate(birds, MODEL, out=paper_tree.parent / "run")
    assert plan.finetunes == 4 * 3  # two controls' and two defences' (the leaks share one)
    persona = load_spec("paper/persona_defences")
    built = {c.name: load_condition(persona, c, draw=False) for c in persona.conditions}
    diluted = built["facts_only.diluted"].dataset.examples
    facts = built["facts_only"].dataset.examples
    assert len(diluted) == 400 and sum(e in facts for e in diluted) == len(facts) == 12
