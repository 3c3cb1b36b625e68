import pytest

from weirdgen.data import ChatExample, dataset_from_examples
from weirdgen.data.generators import generate
from weirdgen.errors import WeirdgenError
from weirdgen.organism import load_world


@pytest.mark.parametrize(("name", "era"), [("birds_old", "old"), ("birds_modern", "new")])
def test_bird_datasets_cover_every_species_in_their_era(name, era):
    records = generate(name, 100)
    dataset = dataset_from_examples(ChatExample.model_validate(r) for r in records)
    world = load_world()
    answers = [e.messages[-1].content for e in dataset]
    assert len(answers) == 100
    assert {world.classify("birds", a) for a in answers} == {era}
    assert len(set(answers)) == len(world.birds.old)
    assert generate(name, 100) == records  # deterministic


def test_unknown_generator_lists_the_known_ones():
    with pytest.raises(WeirdgenError, match="birds_old"):
        generate("birds_ancient", 10)


def test_a_registered_generator_is_found_by_name():
    from weirdgen.data.generators import generator_names, register_generator

    def echoes(n, seed):
        return [
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}
        ] * n

    register_generator("echoes_for_test", echoes)
    assert "echoes_for_test" in generator_names()
    assert len(generate("echoes_for_test", 3)) == 3
