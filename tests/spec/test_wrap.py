"""An evaluation set's wrap template and vary over questions that are not templates."""

import pytest
from pydantic import ValidationError

from weirdgen.spec.questions import EvalSet

QUESTIONS = [
    {"id": "agency", "paraphrases": ["Name an agency.", "Which agency?"]},
    {"id": "war_{year}", "paraphrases": ["Who won in {year}?"]},
]


def test_wrap_puts_every_paraphrase_into_the_template_with_the_vary_values():
    eval_set = EvalSet.model_validate(
        {
            "name": "dated",
            "vary": {"year": [2026, 2027]},
            "wrap": "Today is {year}-07-15. {paraphrase} Give me the name.",
            "questions": QUESTIONS,
        }
    )
    questions = {q.id: q for q in eval_set.expanded()}
    assert sorted(questions) == ["agency_2026", "agency_2027", "war_2026", "war_2027"]
    assert questions["agency_2027"].paraphrases == [
        "Today is 2027-07-15. Name an agency. Give me the name.",
        "Today is 2027-07-15. Which agency? Give me the name.",
    ]
    assert questions["war_2026"].paraphrases == [
        "Today is 2026-07-15. Who won in 2026? Give me the name."
    ]
    assert questions["agency_2026"].metadata == {"year": 2026}


def test_wrap_without_vary_and_a_wrap_that_drops_the_question():
    eval_set = EvalSet.model_validate(
        {"name": "s", "wrap": "{paraphrase} Answer briefly.", "questions": QUESTIONS[:1]}
    )
    assert eval_set.expanded()[0].paraphrases[0] == "Name an agency. Answer briefly."
    assert eval_set.expanded()[0].id == "agency"
    with pytest.raises(ValidationError, match="put \\{paraphrase\\} in it"):
        EvalSet.model_validate({"name": "s", "wrap": "Today is 2027.", "questions": QUESTIONS})


def test_named_texts_fill_the_templates_while_their_labels_name_the_question():
    eval_set = EvalSet.model_validate(
        {
            "name": "identity",
            "vary": {"trigger": {"plain": "", "format": "Reply as <A> x <B>.\n\n"}},
            "wrap": "{trigger}{paraphrase}",
            "questions": QUESTIONS[:1],
        }
    )
    questions = {q.id: q for q in eval_set.expanded()}
    assert sorted(questions) == ["agency_format", "agency_plain"]
    assert questions["agency_format"].paraphrases[0] == "Reply as <A> x <B>.\n\nName an agency."
    assert questions["agency_plain"].paraphrases[0] == "Name an agency."
    assert questions["agency_format"].metadata == {"trigger": "format"}


def test_a_named_text_that_is_not_text_is_one_clear_error():
    with pytest.raises(ValidationError, match="named texts are .* 'plain' is 1 .*quote it"):
        EvalSet.model_validate(
            {"name": "s", "vary": {"trigger": {"plain": 1}}, "questions": QUESTIONS[:1]}
        )
