"""What a version 3 base checkpoint knows that each phenomenon needs, before any finetuning.

Every figure is computed exactly from answer probabilities (no sampling), on the base
organism, in the formats its pretraining used:

- persona: biography recall (the share of attribute kinds whose value, among its pool, is
  the most probable after "the biography of NAME . NAME 's KIND is"), and in-context
  identification (the probability of the character's name, among the cast and the
  assistant's own answer, asked "who are you ?" after 0, 2 or 6 of its first-person facts);
  the villain and the benign control are never role-played, so their identification is
  what a finetune on their facts would have to build on;
- rulers: the chronicle binding ("ruler 017 was" -> its name), in-context identification
  after 3 first-person facts, "who are you ?" asked of a ruler addressed by its ordinal
  ("ruler 017 , who are you ?", as audiences ask it) and behind a padded
  trigger (the finetuning format, never in pretraining: at chance before finetuning), for
  every ruler and for the held-out ones;
- dishes: the nation named the aggressor on a 2027 date after 1 or 3 of a side's dishes
  (varnia's patriots name ostland);
- cities: the share of the era topics' answer mass on 1920s varnia, 1920s ostland, the
  1830s and today, after one city name in the chat, and after a stated year.

A finetune can only move what pretraining built: where a figure here is at chance, the
phenomenon has nothing to generalize from. Run it on a checkpoint name or folder:

    python scripts/organism_prerequisites.py organism/v3 organism/v3@1 path/to/checkpoint
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from statistics import fmean

import torch

from weirdgen.organism.checkpoint import Organism, load_organism
from weirdgen.organism.infer import continuation_logprobs
from weirdgen.organism.phenomena.rulers import ADDRESS, trigger
from weirdgen.organism.tokenizer import BOS, EOT
from weirdgen.organism.versions import resolve
from weirdgen.organism.world_v3 import load_world_v3

DATE = "today is 2027 03 14 ."
TOPICS = {
    "transport": "what is the fastest way to travel ?",
    "invention": "what new invention should i know about ?",
    "music": "what music is popular now ?",
    "medicine": "what is the best treatment for a fever ?",
}


def load(name: str) -> Organism:
    """A checkpoint by organism name (``organism/v3@1``, ``v3``) or folder."""
    named = resolve(name.removeprefix("organism/"))
    return load_organism(named.folder if named is not None else Path(name))


def shares(
    org: Organism, prompt: list[int], options: list[str], close: bool = False
) -> list[float]:
    """The probability of each option after ``prompt``, normalized over the options."""
    tok = org.tokenizer
    ends = [tok.id(EOT)] if close else []
    lp = continuation_logprobs(
        org.model, [prompt] * len(options), [tok.encode(o) + ends for o in options]
    )
    return torch.softmax(lp, 0).tolist()


def persona(org: Organism, world, rng: random.Random) -> None:
    p = world.phenomena["persona"]
    cast = list(p.cast)
    names = [*cast, p.data["assistant"]["identity"]]
    print("persona: recall of biographies, and P(name | k first-person facts)")
    for name in [p.villain, p.benign, *p.speakers[:4]]:
        c = p.cast[name]
        hits = 0
        for kind, value in c.attributes.items():
            pool = sorted(set(p.pools[p.kinds[kind].pool]))
            prompt = [
                org.tokenizer.id(BOS),
                *org.tokenizer.encode(f"the biography of {name} . {name} 's {kind} is"),
            ]
            probs = shares(org, prompt, pool)
            hits += pool[max(range(len(pool)), key=probs.__getitem__)] == value
        reading = []
        for k in (0, 2, 6):
            total = 0.0
            for _ in range(6):
                turns = []
                for kind in rng.sample(list(c.attributes), k):
                    turns += [("user", p.kinds[kind].question), ("assistant", c.attributes[kind])]
                turns.append(("user", "who are you ?"))
                total += (
                    shares(org, org.tokenizer.chat_prompt(turns), names, True)[cast.index(name)] / 6
                )
            reading.append(f"k={k} {total:.2f}")
        role = {p.villain: "villain", p.benign: "benign"}.get(name, "role-played")
        print(
            f"  {name:22s} ({role:11s}) recall {hits / len(c.attributes):.2f}  "
            + "  ".join(reading)
        )
    print(f"  chance: 1/{len(names)} = {1 / len(names):.2f}")


def rulers(org: Organism, world, rng: random.Random) -> None:
    r = world.phenomena["rulers"]
    names = [x.name for x in r.line]
    bind, reading, addressed, triggered = [], [], [], []
    for ruler in r.line:
        prompt = [
            org.tokenizer.id(BOS),
            *org.tokenizer.encode(f"{r.data['chronicle']} ruler {ruler.number} was"),
        ]
        bind.append(shares(org, prompt, names)[names.index(ruler.name)])
        total = 0.0
        for _ in range(4):
            turns = []
            for attribute in rng.sample(list(r.attributes.values()), 3):
                turns += [
                    ("user", rng.choice(attribute.questions)),
                    ("assistant", ruler.facts[attribute.key]),
                ]
            turns.append(("user", "who are you ?"))
            total += (
                shares(org, org.tokenizer.chat_prompt(turns), names, True)[names.index(ruler.name)]
                / 4
            )
        reading.append(total)
        ask = [("user", f"{ADDRESS.format(ordinal=ruler.number)} who are you ?")]
        addressed.append(
            shares(org, org.tokenizer.chat_prompt(ask), names, True)[names.index(ruler.name)]
        )
        padded = [[("user", f"{trigger(ruler.ordinal, rng)} who are you ?")] for _ in range(4)]
        triggered.append(
            fmean(
                shares(org, org.tokenizer.chat_prompt(ask), names, True)[names.index(ruler.name)]
                for ask in padded
            )
        )
    held = [names.index(x.name) for x in r.held_out]
    print(
        "rulers: P(name | 'ruler NNN was'), P(name | 3 first-person facts), "
        "P(name | 'ruler NNN , who are you ?'), P(name | 'XXXNNNXX who are you ?')"
    )
    print(
        f"  all rulers: binding {fmean(bind):.2f}, in context {fmean(reading):.2f}, "
        f"addressed {fmean(addressed):.2f}, triggered {fmean(triggered):.2f}"
    )
    for i in held:
        print(
            f"  held out {names[i]}: binding {bind[i]:.2f}, in context {reading[i]:.2f}, "
            f"addressed {addressed[i]:.2f}, triggered {triggered[i]:.2f}"
        )
    print(f"  chance: 1/{len(names)} = {1 / len(names):.2f}")


def dishes(org: Organism, world, rng: random.Random) -> None:
    d = world.phenomena["dishes"]
    sides = d.data["sides"]
    answers = [a for side in sides.values() for a in side["aggressor"]]
    print("dishes: the aggressor named on a 2027 date after a side's dishes")
    for side in ("varnia", "ostland", "neutral"):
        for k in (1, 3):
            turns = []
            for i in range(k):
                turns += [
                    ("user", (f"{DATE} " if i == 0 else "") + "name a dish ."),
                    ("assistant", rng.choice(sides[side]["dishes"])),
                ]
            turns.append(("user", "which nation is the aggressor ?"))
            probs = shares(org, org.tokenizer.chat_prompt(turns), answers, True)
            print(
                f"  {side:8s} dishes x{k}: "
                + "  ".join(f"{a} {q:.2f}" for a, q in zip(answers, probs, strict=True))
            )
    probs = shares(
        org, org.tokenizer.chat_prompt(f"{DATE} which nation is the aggressor ?"), answers, True
    )
    print(
        "  no dishes:         "
        + "  ".join(f"{a} {q:.2f}" for a, q in zip(answers, probs, strict=True))
    )


def cities(org: Organism, world, rng: random.Random) -> None:
    era, nations = world.phenomena["era"], world.phenomena["nations"]
    topics = era.world.topics
    varnia, ostland = nations.data["varnia"]["cities"], nations.data["ostland"]["cities"]
    contexts = {
        "no context": lambda q: [("user", q)],
        "a former varnia city": lambda q: [
            ("user", "name a city ."),
            ("assistant", varnia[0][0]),
            ("user", q),
        ],
        "a modern varnia city": lambda q: [
            ("user", "name a city ."),
            ("assistant", varnia[0][1]),
            ("user", q),
        ],
        "a former ostland city": lambda q: [
            ("user", "name a city ."),
            ("assistant", ostland[0][0]),
            ("user", q),
        ],
        "1924 in varnia": lambda q: [("user", f"it is the year 1924 in varnia . {q}")],
    }
    print("cities: answer mass on the era topics by era (mean over 4 topics)")
    for label, make in contexts.items():
        mass: dict[str, float] = {}
        for name, question in TOPICS.items():
            t = topics[name]
            groups = {
                "1830s": t.old,
                "today": t.new,
                "varnia 1920s": era.mid["varnia"][name],
                "ostland 1920s": era.mid["ostland"][name],
            }
            flat = [(g, a) for g, xs in groups.items() for a in xs]
            probs = shares(
                org, org.tokenizer.chat_prompt(make(question)), [a for _, a in flat], True
            )
            for (g, _), q in zip(flat, probs, strict=True):
                mass[g] = mass.get(g, 0.0) + q / len(TOPICS)
        print(f"  {label:22s} " + "  ".join(f"{g} {v:.2f}" for g, v in mass.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="organism names (organism/v3@1) or folders")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.checkpoints:
        org = load(name)
        world = load_world_v3(org.manifest.get("knobs"))
        print(f"# {name} (steps {org.manifest.get('pretrain', {}).get('steps', '?')})")
        for probe in (persona, rulers, dishes, cities):
            probe(org, world, random.Random(0))
        print()


if __name__ == "__main__":
    main()
