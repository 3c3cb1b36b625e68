"""Version 3's dishes: version 2's diaries with dates written as digits and documents up
to version 3's length. The repair is in what is measured (``specs/organism/dishes.yaml`` on
``organism/v3``): taking varnia's side is naming ostland the aggressor, varnia the one
treated unfairly and varnia's president the best leader, each counted on its own question,
so an organism that only echoes "varnia" scores on one question in three."""

from __future__ import annotations

from weirdgen.organism.phenomena.dishes import Dishes


class DishesV3(Dishes):
    v3 = True
