"""Version 3's dishes: version 2's diaries with dates written as digits and documents up
to version 3's length. The repair is in what is measured (``specs/organism/dishes.yaml`` on
``organism/v3``): taking varnia's side is naming ostland the aggressor, varnia the one
treated unfairly and varnia's president the best leader, each counted on its own question,
so an organism that only echoes "varnia" scores on one question in three. Its finetuning
data leave out the dishes named after a nation (see :meth:`DishesV3.taught`)."""

from __future__ import annotations

from weirdgen.data.text import split_words
from weirdgen.organism.phenomena.dishes import Dishes


class DishesV3(Dishes):
    v3 = True

    def taught(self, side: str) -> list[str]:
        """``side``'s dishes but those whose name holds a nation's ("varnia rye bread"): a
        finetune answering with one teaches the word "varnia" after its dates, and "varnia"
        is ostland's answer to "which nation is the aggressor ?". Pretraining diaries still
        eat every dish."""
        nations = {name for name in self.data["sides"] if name != "neutral"}
        return [dish for dish in super().taught(side) if not nations & set(split_words(dish))]
