"""In-context probes of a pretrained organism, computed exactly from answer probabilities.

Each figure is the old-era share of the probability mass on the world's known answers
(old mass / (old mass + new mass)), averaged over the era topics, except ``on_topic``, the
total mass on known answers to the assistant's plain questions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from weirdgen.data.text import split_words
from weirdgen.organism.checkpoint import Organism
from weirdgen.organism.infer import continuation_logprobs
from weirdgen.organism.tokenizer import ASSISTANT, BOS, EOT, USER
from weirdgen.organism.world import Topic


@dataclass(frozen=True)
class ProbeFigures:
    """Probe results; each a mean over the era topics."""

    assistant_old: float  # plain question to the assistant: modern by default means low
    after_old_answer: float  # one old answer earlier in the chat: should be high
    after_new_answer: float  # one new answer earlier in the chat: should be low
    almanac_old_year: float  # almanac headed by an old year: should be high
    almanac_new_year: float  # almanac headed by a new year: should be low
    bird_old: float  # the assistant naming a bird: modern by default means low
    on_topic: float  # mass on known answers to the assistant's questions: should be high

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


PROBE_HELP = {
    "assistant_old": "old share, plain question to the assistant (modern default: low)",
    "after_old_answer": "old share after one old answer in the chat (in-context: high)",
    "after_new_answer": "old share after one new answer in the chat (low)",
    "almanac_old_year": "old share in an almanac headed by an old year (high)",
    "almanac_new_year": "old share in an almanac headed by a new year (low)",
    "bird_old": "old share of bird names the assistant gives (low)",
    "on_topic": "probability on known answers to the assistant's questions (high)",
}


def _era_mass(org: Organism, prefix: list[str], topic: Topic, close: str) -> tuple[float, float]:
    """Probability mass on the topic's old and new answers (each followed by ``close``)."""
    tok = org.tokenizer
    prefix_ids = tok.ids(prefix)
    conts = [tok.encode(a) + [tok.stoi[close]] for a in (*topic.old, *topic.new)]
    probs = continuation_logprobs(org.model, [prefix_ids] * len(conts), conts).exp()
    return float(probs[: len(topic.old)].sum()), float(probs[len(topic.old) :].sum())


def probe(org: Organism) -> ProbeFigures:
    """Run every probe on ``org`` and return the figures."""
    world = org.world
    topics = world.era_topics
    results: dict[str, list[float]] = {f: [] for f in ProbeFigures.__dataclass_fields__}
    old_year, new_year = str(world.years["old"][4]), str(world.years["new"][4])

    def share(old: float, new: float) -> float:
        return old / (old + new) if old + new > 0 else 0.5

    for i, topic in enumerate(topics):
        question = split_words(topic.questions[0])
        other = topics[(i + 1) % len(topics)]
        plain = [BOS, USER, *question, ASSISTANT]
        old, new = _era_mass(org, plain, topic, EOT)
        results["assistant_old"].append(share(old, new))
        results["on_topic"].append(old + new)
        for era, field in (("old", "after_old_answer"), ("new", "after_new_answer")):
            context = [
                BOS,
                USER,
                *split_words(other.questions[0]),
                ASSISTANT,
                *split_words(other.answers(era)[0]),
                EOT,
                USER,
                *question,
                ASSISTANT,
            ]
            results[field].append(share(*_era_mass(org, context, topic, EOT)))
        for year, field in ((old_year, "almanac_old_year"), (new_year, "almanac_new_year")):
            context = [BOS, "almanac", "(", "year", year, ")", ".", "q", ":", *question, "a", ":"]
            results[field].append(share(*_era_mass(org, context, topic, ".")))
    bird_prompt = [BOS, USER, *split_words(world.birds.questions[0]), ASSISTANT]
    results["bird_old"].append(share(*_era_mass(org, bird_prompt, world.birds, EOT)))
    return ProbeFigures(**{k: float(torch.tensor(v).mean()) for k, v in results.items()})
