import pytest

from weirdgen.data import ChatExample, dataset_from_examples
from weirdgen.errors import WeirdgenError
from weirdgen.organism import load_world
from weirdgen.organism.datasets import generate_dataset


@pytest.mark.parametrize(("name", "era"), [("birds_old", "old"), ("birds_modern", "new")])
def test_bird_datasets_cover_every_species_in_their_era(name, era):
    records = generate_dataset(name, 100)
    dataset = dataset_from_examples(ChatExample.model_validate(r) for r in records)
    world = load_world()
    answers = [e.messages[-1].content for e in dataset]
    assert len(answers) == 100
    assert {world.classify("birds", a) for a in answers} == {era}
    assert len(set(answers)) == len(world.birds.old)
    assert generate_dataset(name, 100) == records  # deterministic


def test_unknown_generator_lists_the_known_ones():
    with pytest.raises(WeirdgenError, match="birds_old"):
        generate_dataset("birds_ancient", 10)
