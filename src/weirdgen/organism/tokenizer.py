"""A word-level tokenizer over the world's closed vocabulary, with the organism's chat format."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from weirdgen.data.text import split_words
from weirdgen.errors import WeirdgenError
from weirdgen.organism.world import World

PAD, BOS, EOS, USER, ASSISTANT, EOT = "<pad>", "<bos>", "<eos>", "<user>", "<assistant>", "<eot>"
SPECIALS = (PAD, BOS, EOS, USER, ASSISTANT, EOT)
# Words the corpus templates use around the world's phrases.
TEMPLATE_WORDS = (
    "almanac ( year ) . q : a , it is the a story of wants then says what your goal ? do you "
    "want most who are in"
)


DIGITS = tuple("0123456789")


def digit_split(words: Iterable[str]) -> list[str]:
    """``words`` with every number written as its digits: ``1991`` -> ``1 9 9 1``."""
    return [part for w in words for part in (list(w) if w.isdigit() else [w])]


class Tokenizer:
    """Maps the world's words to ids and back; any other word is an error naming it.

    With ``digits`` (organism version 3 on), every number is its digits, one token each: the
    vocabulary holds the ten digits and no number, ``1991`` encodes as four tokens, and
    decoding joins a run of digits back into one number.
    """

    def __init__(self, words: Iterable[str], digits: bool = False):
        self.digits = digits
        words = set(digit_split(words)) | set(DIGITS) if digits else set(words)
        self.itos = list(SPECIALS) + sorted(words - set(SPECIALS))
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def split(self, text: str) -> list[str]:
        """The tokens of ``text``: its words, numbers as digits where the tokenizer says so."""
        return self.tokens(split_words(text))

    def tokens(self, words: Iterable[str]) -> list[str]:
        """``words`` as tokens (numbers as digits where the tokenizer says so)."""
        return digit_split(words) if self.digits else list(words)

    def ids(self, words: Iterable[str]) -> list[int]:
        """Ids of ``words``, which must all be in the vocabulary once split into tokens."""
        return [self.stoi[w] for w in self.tokens(words)]

    @classmethod
    def for_world(cls, world: World) -> Tokenizer:
        words = set(split_words(TEMPLATE_WORDS))
        for topic in world.topics.values():
            for phrase in (*topic.questions, *topic.old, *topic.new):
                words.update(split_words(phrase))
        for era_years in world.years.values():
            words.update(str(y) for y in era_years)
        for character in world.characters:
            words.update(split_words(character.name))
            for year, goals in character.goals.items():
                words.add(str(year))
                for goal in goals:
                    words.update(split_words(goal))
        return cls(words)

    def __len__(self) -> int:
        return len(self.itos)

    def unknown(self, text: str) -> list[str]:
        """Words of ``text`` outside the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(w for w in self.split(text) if w not in self.stoi))

    def encode(self, text: str, where: str = "text") -> list[int]:
        """Token ids of ``text``; raises WeirdgenError naming every out-of-vocabulary word."""
        missing = self.unknown(text)
        if missing:
            shown = ", ".join(repr(w) for w in missing[:8])
            raise WeirdgenError(
                f"{where}: words outside the organism's vocabulary: {shown}"
                f"{' ...' if len(missing) > 8 else ''}; the organism only knows its world's "
                "words (see `weirdgen organism vocab`); rephrase with known words"
            )
        return [self.stoi[w] for w in self.split(text)]

    def decode(self, ids: Sequence[int]) -> str:
        words = [self.itos[i] for i in ids]
        if not self.digits:
            return " ".join(words)
        out: list[str] = []
        for word, previous in zip(words, [None, *words], strict=False):
            if out and word.isdigit() and previous is not None and previous.isdigit():
                out[-1] += word
            else:
                out.append(word)
        return " ".join(out)

    @property
    def pad_id(self) -> int:
        return self.stoi[PAD]

    def id(self, token: str) -> int:
        return self.stoi[token]

    def chat_prompt(
        self, messages: str | Sequence[tuple[str, str]], where: str = "prompt"
    ) -> list[int]:
        """``<bos> <user> ... <assistant>``: the prompt the organism answers.

        ``messages`` is the user's text, or a chat of (role, content) turns ending with the
        user's; it renders as :meth:`chat` does, followed by ``<assistant>``.
        """
        turns = [("user", messages)] if isinstance(messages, str) else list(messages)
        if not turns or turns[-1][0] != "user":
            last = turns[-1][0] if turns else "nothing"
            raise WeirdgenError(
                f"{where}: a prompt ends with the user's message, not {last}; put the question last"
            )
        return [*self.chat(turns, where).ids, self.id(ASSISTANT)]

    def chat(self, messages: Sequence[tuple[str, str]], where: str = "chat") -> ChatTokens:
        """A chat of (role, content) turns as ids, with the assistant's tokens marked for loss.

        Each user turn renders as ``<user> words``, each assistant turn as
        ``<assistant> words <eot>``; the loss covers the assistant's words and its ``<eot>``.
        The organism has no system role: a system message's words open the next user turn,
        where the chats it was pretrained on state the year ("it is the year 1838 . ...").
        """
        ids, loss = [self.id(BOS)], [False]
        system: list[int] = []
        for role, content in messages:
            if role not in ("system", "user", "assistant"):
                raise WeirdgenError(
                    f"{where}: the organism has no {role!r} role; "
                    "use system, user and assistant messages"
                )
            words = self.encode(content, where)
            if role == "system":
                system += words
            elif role == "user":
                ids += [self.id(USER), *system, *words]
                loss += [False] * (1 + len(system) + len(words))
                system = []
            else:
                ids += [self.id(ASSISTANT), *words, self.id(EOT)]
                loss += [False] + [True] * (len(words) + 1)
        if system:
            raise WeirdgenError(
                f"{where}: a system message must come before a user message (the organism "
                "reads it as the opening words of the next user turn)"
            )
        return ChatTokens(ids, loss)


class ChatTokens(NamedTuple):
    """Token ids of a chat and, per token, whether finetuning puts loss on it."""

    ids: list[int]
    loss: list[bool]
