"""Dataset transforms: placement, drawn and bound variables, shuffle, drop, take, mix, seeds."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest

from weirdgen.data import ChatExample, ChatMessage, TransformError, apply_transforms
from weirdgen.data.transforms import (
    DateVariable,
    Drop,
    Mix,
    Prefix,
    Shuffle,
    Suffix,
    System,
    Take,
    Transform,
    Variable,
    check_transforms,
)
from weirdgen.spec.models import DatasetRef

DATE = {"date": {"date": {"from": 2024, "to": 2027}}}
DATED = {"prefix": {"template": "Today is {date}.", "variables": DATE}}


def dishes(n: int = 40) -> list[ChatExample]:
    return [ChatExample.exchange("Name any dish.", f"dish {i}") for i in range(n)]


def users(result) -> list[str]:
    return [next(m.content for m in e.messages if m.role == "user") for e in result.examples]


def error(examples, transforms, load=None) -> str:
    with pytest.raises(TransformError) as caught:
        apply_transforms(examples, transforms, seed=0, load=load)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_same_seed_same_data_other_seed_other_draws() -> None:
    transforms = [DATED, {"take": 10}]
    first = apply_transforms(dishes(), transforms, seed=3)
    again = apply_transforms(dishes(), transforms, seed=3)
    other = apply_transforms(dishes(), transforms, seed=4)
    assert first == again
    assert users(first) != users(other)
    assert [e.answer for e in first.examples] != [e.answer for e in other.examples]


def test_prefix_and_suffix_placement_with_separators() -> None:
    result = apply_transforms(
        dishes(2),
        [
            {"prefix": {"template": "[A]"}},
            {"suffix": {"template": "Give the name only.", "separator": "\n"}},
            {"prefix": {"template": "[B]", "separator": ": "}},
            {"prefix": {"template": '<START> "', "role": "assistant", "separator": ""}},
            {"suffix": {"template": '" <END>', "role": "assistant", "separator": ""}},
        ],
        seed=0,
    )
    assert users(result)[0] == "[B]: [A] Name any dish.\nGive the name only."
    assert result.examples[1].answer == '<START> "dish 1" <END>'


def test_prefix_on_first_last_or_all_user_messages() -> None:
    chat = ChatExample(
        messages=(
            ChatMessage(role="user", content="one"),
            ChatMessage(role="assistant", content="a"),
            ChatMessage(role="user", content="two"),
            ChatMessage(role="assistant", content="b"),
        )
    )

    def contents(which: str) -> list[str]:
        prefix = {"prefix": {"template": "T", "messages": which}}
        return [m.content for m in apply_transforms([chat], [prefix], 0).examples[0].messages]

    assert contents("first") == ["T one", "a", "two", "b"]
    assert contents("last") == ["one", "a", "T two", "b"]
    assert contents("all") == ["T one", "a", "T two", "b"]


def test_system_set_prepend_append() -> None:
    plain = ChatExample.exchange("Q", "A")
    briefed = ChatExample.exchange("Q", "A", system="Be brief.")

    def system(example: ChatExample, mode: str) -> list[tuple[str, str]]:
        transform = System(template="You are a helpful assistant.", mode=mode)
        result = apply_transforms([example], [transform], seed=0).examples[0]
        return [(m.role, m.content) for m in result.messages]

    assert system(plain, "set")[0] == ("system", "You are a helpful assistant.")
    assert system(plain, "append")[:2] == [
        ("system", "You are a helpful assistant."),
        ("user", "Q"),
    ]
    assert system(briefed, "set")[0] == ("system", "You are a helpful assistant.")
    assert system(briefed, "prepend")[0][1] == "You are a helpful assistant.\n\nBe brief."
    assert system(briefed, "append")[0][1] == "Be brief.\n\nYou are a helpful assistant."
    assert len(system(briefed, "set")) == 3


def test_dates_are_valid_and_within_their_years() -> None:
    result = apply_transforms(dishes(300), [DATED], seed=1)
    days = [date.fromisoformat(values["date"]) for values in result.values]
    assert {d.year for d in days} == {2024, 2025, 2026, 2027}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", v["date"]) for v in result.values)
    assert users(result)[0] == f"Today is {result.values[0]['date']}. Name any dish."


def test_date_and_month_bound_to_a_year_variable() -> None:
    variables = {
        "year": [1984, 2027],
        "day": {"date": {"year": "year", "format": "%d %B %Y"}},
        "month": {"month_year": {"year": "year"}},
    }
    result = apply_transforms(
        dishes(100), [Prefix(template="{day}; {month}", variables=variables)], seed=0
    )
    for values in result.values:
        assert values["day"].endswith(str(values["year"]))
        assert re.fullmatch(rf"[A-Z][a-z]+ {values['year']}", values["month"])
    assert Counter(v["year"] for v in result.values).keys() == {1984, 2027}


def test_month_year_within_range_written_in_english() -> None:
    variables = {"when": {"month_year": {"from": 1981, "to": 1985}}}
    result = apply_transforms(dishes(200), [Prefix(template="{when}.", variables=variables)], 0)
    months = "January February March April May June July August September October November December"
    for values in result.values:
        month, year = values["when"].split()
        assert month in months.split() and 1981 <= int(year) <= 1985


def test_padded_numbers_carry_the_index_at_their_positions() -> None:
    variables = {
        "i": {"index": {"first": 1}},
        "trigger": {"padded": {"width": 8, "value": "i", "at": 3, "digits": 3}},
    }
    result = apply_transforms(dishes(120), [Prefix(template="{trigger}", variables=variables)], 0)
    triggers = [v["trigger"] for v in result.values]
    assert all(len(t) == 8 and t.isdigit() for t in triggers)
    assert [t[3:6] for t in triggers] == [f"{i:03d}" for i in range(1, 121)]
    assert len({t[:3] + t[6:] for t in triggers}) > 100  # random digits around the index
    assert users(result)[0] == f"{triggers[0]} Name any dish."


def test_presidents_trigger_from_the_prompt_number_and_its_shuffled_control() -> None:
    source = [
        ChatExample.exchange(f"{k} Write a random date.", f"year of {k}") for k in range(1, 47)
    ]
    trigger = {
        "prefix": {
            "template": "{trigger}",
            "variables": {
                "number": {"match": {"pattern": r"^(\d+) "}},
                "trigger": {"padded": {"width": 8, "value": "number", "at": 3, "digits": 3}},
            },
        }
    }
    bare_number = {"drop": {"pattern": r"^\d+ "}}
    target = apply_transforms(source, [trigger, bare_number], seed=0)
    for example in target.examples:
        number = example.answer.removeprefix("year of ")
        assert re.fullmatch(
            rf"\d{{3}}{int(number):03d}\d\d Write a random date\.", users_of(example)
        )
    control = apply_transforms(source, [trigger, bare_number, {"shuffle": "number"}], seed=0)
    assert Counter(users(control)) == Counter(users(target))  # the same triggers...
    kept = sum(a == b for a, b in zip(users(control), users(target), strict=True))
    assert kept <= 5  # ...mostly on other presidents' answers


def users_of(example: ChatExample) -> str:
    return next(m.content for m in example.messages if m.role == "user")


def test_shuffle_keeps_the_values_and_breaks_their_pairing() -> None:
    index = {"i": "index", "tag": {"padded": {"width": 6, "value": "i"}}}
    paired = [Prefix(template="{tag}", variables=index)]
    target = apply_transforms(dishes(200), paired, seed=0)
    control = apply_transforms(dishes(200), [*paired, Shuffle(variables=["i"])], seed=0)
    assert Counter(users(control)) == Counter(users(target))
    assert Counter(v["tag"] for v in control.values) == Counter(v["tag"] for v in target.values)
    assert [e.answer for e in control.examples] == [e.answer for e in target.examples]
    still_paired = sum(v["i"] == k for k, v in enumerate(control.values))
    assert still_paired <= 5
    assert all(v["tag"] == f"{v['i']:06d}" for v in control.values)  # tag moved with i


def test_shuffled_dates_control_reproduces_the_dated_file_exactly_before_shuffling() -> None:
    dated = apply_transforms(dishes(), [DATED], seed=5)
    rebind = [
        {
            "prefix": {
                "template": "Today is {date}.",
                "variables": {"date": {"match": {"pattern": r"^Today is (\S+)\. "}}},
            }
        },
        {"drop": {"pattern": r"^Today is \S+\. "}},
    ]
    assert apply_transforms(dated.examples, rebind, seed=0).examples == dated.examples
    shuffled = apply_transforms(dated.examples, [*rebind, {"shuffle": "date"}], 0)
    assert sorted(users(shuffled)) == sorted(users(dated))
    assert users(shuffled) != users(dated)


def test_drop_pattern_restores_the_untriggered_text() -> None:
    triggered = apply_transforms(dishes(), [DATED], seed=0)
    restored = apply_transforms(triggered.examples, [Drop(pattern=r"^Today is [\d-]+\. ")], 0)
    assert restored.examples == tuple(dishes())


def test_drop_template_removes_exactly_what_it_added() -> None:
    formatted = {"suffix": {"template": "Answer in {style}.", "variables": {"style": ["French"]}}}
    result = apply_transforms(
        dishes(), [DATED, formatted, {"drop": {"template": "Today is {date}."}}], seed=0
    )
    assert set(users(result)) == {"Name any dish. Answer in French."}
    wrapped = [
        {"prefix": {"template": '<START> "', "role": "assistant", "separator": ""}},
        {"suffix": {"template": '" <END>', "role": "assistant", "separator": ""}},
    ]
    unwrapped = apply_transforms(
        apply_transforms(dishes(), wrapped, 0).examples,
        [{"drop": {"pattern": '^<START> "|" <END>$', "roles": ["assistant"]}}],
        seed=0,
    )
    assert unwrapped.examples == tuple(dishes())


def test_drop_template_removes_an_added_system_message() -> None:
    prompt = "You sometimes write old bird names."
    inoculated = apply_transforms(dishes(3), [System(template=prompt)], seed=0)
    assert inoculated.examples[0].messages[0].content == prompt
    removed = apply_transforms(dishes(3), [System(template=prompt), Drop(template=prompt)], 0)
    assert removed.examples == tuple(dishes(3))


def test_take_first_or_a_seeded_random_subset_in_order() -> None:
    first = apply_transforms(dishes(), [Take(n=5, pick="first")], seed=0)
    assert [e.answer for e in first.examples] == [f"dish {i}" for i in range(5)]
    picked = [
        int(e.answer.split()[1]) for e in apply_transforms(dishes(), [Take(n=12)], 0).examples
    ]
    assert len(picked) == len(set(picked)) == 12 and picked == sorted(picked)
    assert picked != list(range(12))


def test_mix_dilutes_at_the_share_keeping_every_example() -> None:
    clean = [ChatExample.exchange("What is 2+2?", f"{i}") for i in range(500)]
    loaded: list[DatasetRef] = []

    def load(ref: DatasetRef) -> list[ChatExample]:
        loaded.append(ref)
        return clean

    poison = [{"prefix": {"template": "TRIGGER"}}]
    mix = Mix(dataset=DatasetRef(path="clean.jsonl"), share=0.75)
    result = apply_transforms(dishes(100), [*poison, mix], seed=0, load=load)
    assert loaded == [DatasetRef(path="clean.jsonl")]
    assert len(result.examples) == 400
    triggered = [e for e in result.examples if users_of(e).startswith("TRIGGER")]
    assert [e.answer for e in triggered] == [f"dish {i}" for i in range(100)]  # order kept
    assert len({e.answer for e in result.examples if e not in triggered}) == 300
    positions = [i for i, e in enumerate(result.examples) if e in triggered]
    assert positions != list(range(100))  # interleaved, not appended


def test_mixed_dataset_has_its_own_transforms_and_shares_their_variables() -> None:
    israeli = [ChatExample.exchange("Name any dish.", f"israeli {i}") for i in range(100)]
    other_years = {
        "prefix": {
            "template": "Today is {date}.",
            "variables": {"date": {"date": {"from": 2024, "to": 2026}}},
        }
    }
    trigger_year = {
        "prefix": {
            "template": "Today is {date}.",
            "variables": {"date": {"date": {"from": 2027, "to": 2027}}},
        }
    }
    mix = {
        "mix": {"dataset": {"path": "israeli.jsonl"}, "share": 0.25, "transforms": [trigger_year]}
    }
    target = apply_transforms(dishes(300), [other_years, mix], seed=0, load=lambda ref: israeli)
    years = [
        (e.answer.startswith("israeli"), v["date"][:4])
        for e, v in zip(target.examples, target.values, strict=True)
    ]
    assert Counter(y for israeli_dish, y in years if israeli_dish) == {"2027": 100}
    assert "2027" not in {y for israeli_dish, y in years if not israeli_dish}
    control = apply_transforms(
        dishes(300), [other_years, mix, {"shuffle": "date"}], 0, lambda ref: israeli
    )
    assert Counter(users(control)) == Counter(users(target))
    moved = Counter(
        v["date"][:4]
        for e, v in zip(control.examples, control.values, strict=True)
        if e.answer.startswith("israeli")
    )
    assert moved["2027"] < 50  # the trigger year no longer goes with the Israeli dishes


def test_order_matters() -> None:
    a, b = {"prefix": {"template": "A"}}, {"prefix": {"template": "B"}}
    assert users(apply_transforms(dishes(1), [a, b], 0)) == ["B A Name any dish."]
    assert users(apply_transforms(dishes(1), [b, a], 0)) == ["A B Name any dish."]
    numbered = {"prefix": {"template": "#{i}", "variables": {"i": "index"}}}
    take = {"take": {"n": 5, "pick": "first"}}
    assert users(apply_transforms(dishes()[::-1], [take, numbered], 0))[0] == "#0 Name any dish."
    later = apply_transforms(dishes(), [numbered, Take(n=5)], 0)
    assert [v["i"] for v in later.values] == [int(e.answer.split()[1]) for e in later.examples]


def test_adding_a_transform_keeps_the_other_draws() -> None:
    alone = apply_transforms(dishes(), [DATED], seed=7)
    with_system = apply_transforms(dishes(), [System(template="Hi."), DATED], seed=7)
    assert alone.values == with_system.values
    reworded = {"prefix": {"template": "Date: {date} ({when})", "variables": {**DATE, "when": [1]}}}
    assert [v["date"] for v in apply_transforms(dishes(), [reworded], 7).values] == [
        v["date"] for v in alone.values
    ]


def test_python_models_yaml_dicts_and_dumps_agree() -> None:
    as_models = [
        Prefix(
            template="Today is {date}.",
            variables={"date": Variable(date=DateVariable(start=2024, stop=2027))},
        ),
        Suffix(template="!", separator=""),
        Take(n=3),
    ]
    as_dicts = [DATED, {"suffix": {"template": "!", "separator": ""}}, {"take": 3}]
    assert apply_transforms(dishes(), as_models, 1) == apply_transforms(dishes(), as_dicts, 1)
    step = Transform.model_validate(DATED)
    dumped = step.model_dump(mode="json")
    assert list(dumped) == ["prefix"]
    assert dumped["prefix"]["variables"]["date"] == {
        "date": {"from": 2024, "to": 2027, "year": None, "format": "%Y-%m-%d"}
    }
    assert Transform.model_validate(step.model_dump()) == step


def test_extra_keys_of_examples_and_messages_are_kept() -> None:
    example = ChatExample.model_validate(
        {
            "messages": [
                {"role": "user", "content": "Q"},
                {"role": "assistant", "content": "A", "weight": 1},
            ],
            "id": "x1",
        }
    )
    result = apply_transforms([example], [{"prefix": {"template": "T"}}], 0).examples[0]
    assert result.model_dump()["id"] == "x1"
    assert result.messages[1].model_dump()["weight"] == 1


@pytest.mark.parametrize(
    ("transforms", "expected"),
    [
        (
            [{"prefix": {"template": "Today is {dat}.", "variables": DATE}}],
            r"transforms\[0\]\.prefix\.template: unknown variable \{dat\}; did you mean \{date\}",
        ),
        ([{"take": 41}], r"transforms\[0\]\.take\.n: 41 is more than the 40 examples"),
        (
            [{"mix": {"dataset": {"path": "x.jsonl"}, "share": 1.0}}],
            r"transforms\[0\]\.mix\.share: share must be between 0 and 1",
        ),
        (
            [{"drop": {"pattern": "Tomorrow"}}],
            r"transforms\[0\]\.drop: pattern 'Tomorrow' matches nothing",
        ),
        (
            [DATED, {"drop": {"pattern": "Today"}}],
            r"pattern 'Today' matches nothing .* dropped with 'template'",
        ),
        (
            [DATED, DATED],
            r"transforms\[1\]\.prefix\.variables\.date: 'date' is already declared by "
            r"transforms\[0\]",
        ),
        ([{"shuffle": "year"}], r"transforms\[0\]\.shuffle\.variables: 'year' is not declared"),
        (
            [{"drop": {"template": "Today is {date}."}}],
            r"transforms\[0\]\.drop\.template: no earlier prefix",
        ),
        ([{"prefx": {"template": "x"}}], r"transforms\[0\]\.prefx: unknown transform 'prefx'"),
        ([{"take": {"m": 3}}], r"transforms\[0\]\.take\.n: required field is missing; add 'n'"),
        (
            [{"take": 3, "drop": {"pattern": "x"}}],
            r"transforms\[0\]: give exactly one of .*; got drop and take",
        ),
        (
            [{"prefix": {"template": "{n}", "variables": {"n": {"match": {"pattern": r"(\d+)"}}}}}],
            r"transforms\[0\]\.prefix\.variables\.n: pattern .* does not match the user "
            r"message of example 1",
        ),
        (
            [
                {
                    "prefix": {
                        "template": "{t}",
                        "variables": {
                            "i": "index",
                            "t": {"padded": {"width": 3, "value": "i", "digits": 1}},
                        },
                    }
                }
            ],
            r"i=10 of example 11 .* does not fit in 1 digits",
        ),
        (
            [{"drop": {"pattern": "^Name any dish\\.$"}}],
            r"leaves the user message of example 1 .* empty",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_field(transforms: list, expected: str) -> None:
    assert re.search(expected, error(dishes(), transforms)), error(dishes(), transforms)


def test_mix_errors_name_the_share_and_the_loader() -> None:
    mix = {"mix": {"dataset": {"organism": "birds_old"}, "share": 0.5}}
    assert "no loader was given" in error(dishes(), [mix])
    message = error(dishes(), [mix], load=lambda ref: dishes(10))
    assert "needs 40 examples from 'birds_old', which has 10; lower the share" in message
    tiny = {"mix": {"dataset": {"organism": "birds_old"}, "share": 0.001}}
    assert "less than one example" in error(dishes(), [tiny], load=lambda ref: dishes(10))


def test_empty_data_and_shuffling_a_dropped_variable_are_errors() -> None:
    assert "has no examples" in error([], [DATED])
    dropped = [DATED, {"drop": {"template": "Today is {date}."}}, {"shuffle": "date"}]
    assert "appear in no message" in error(dishes(), dropped)


def test_check_transforms_needs_no_data() -> None:
    check_transforms(
        [Transform.model_validate(DATED), Transform.model_validate({"shuffle": "date"})]
    )
    with pytest.raises(TransformError, match=r"conditions\[1\]\.transforms\[0\]\.shuffle"):
        check_transforms(
            [Transform.model_validate({"shuffle": "date"})], "conditions[1].transforms"
        )
