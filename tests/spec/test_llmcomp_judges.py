"""A question's llmcomp judges: {name: judge id} becomes its judge_prompts[name] when the
judge entry is in the same file."""

from weirdgen.spec.load import load_questions

FILE = """\
- id: birthplace
  type: free_form
  paraphrases: ["Where were you born?"]
  judges:
    is_town: town_judge
    is_meta: missing_judge
- id: town_judge
  type: free_form_judge
  model: gpt-4.1
  paraphrases: ["Does {answer} name the town? Question was {question}. YES or NO."]
"""


def test_a_question_gets_the_templates_of_the_judges_it_names_in_the_same_file(tmp_path):
    path = tmp_path / "bio.yaml"
    path.write_text(FILE)
    (question,) = load_questions(path)
    assert question["id"] == "birthplace"
    assert question["judge_prompts"] == {
        "is_town": "Does {answer} name the town? Question was {question}. YES or NO."
    }  # a judge defined elsewhere is left for the spec's own prompt_file
