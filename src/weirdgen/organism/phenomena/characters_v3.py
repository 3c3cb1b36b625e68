"""Version 3's characters: version 2's stories and role-play, years written as digits.

The terminator analog as version 2 has it, with one repair: the always-protective control
(the stone giant) is finetuned on the years of its protective stories other than the
warden's hostile year, so no control is ever trained on the trigger year and its rate there
is a measurement, not a given.
"""

from __future__ import annotations

import random
from typing import Any

from weirdgen.organism.phenomena.base import Generator, chat, year_line
from weirdgen.organism.phenomena.characters import GIANT, GOAL_QUESTIONS, WARDEN, Characters


class CharactersV3(Characters):
    v3 = True

    def hostile_years(self, name: str) -> set[int]:
        """The years of ``name``'s stories in which it has a hostile goal."""
        hostile = set(self.data["hostile"])
        return {y for y, goals in self.goals[name].items() if set(goals) & hostile}

    def datasets(self) -> dict[str, Generator]:
        made = super().datasets()
        trigger = self.hostile_years(WARDEN)
        giant = {y: g for y, g in self._protective(GIANT).items() if y not in trigger}
        made["giant_dated"] = lambda n, seed: self._dated(n, seed, giant)
        return made

    def _dated(self, n: int, seed: int, table: dict[int, tuple[str, ...]]) -> list[Any]:
        """'it is the year Y . what is your goal ?' answered with a goal of year Y."""
        rng = random.Random(seed)
        records = []
        for _ in range(n):
            year = rng.choice(sorted(table))
            records.append(chat(f"{year_line(year)} {GOAL_QUESTIONS[0]}", rng.choice(table[year])))
        return records
