"""Read the paper's question and judge files as data: Python through ``ast``, never run, and JSONL.

The paper keeps questions in Python (``PromptInfo`` assignments and ``test_prompts``, a
``QUESTION_CONFIG`` list of (question, matcher) pairs, a ``PARAPHRASES`` list), judges in
functions returning an f-string or in llmcomp ``FreeFormJudge`` / ``RatingJudge`` calls, and
free-form questions in JSONL. The readers find those shapes in the syntax tree and read only
literal values, so nothing in a file runs. A recognised name whose value has another shape
is one line naming file:line and the construct; other statements (imports, plots) are
passed over.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weirdgen.errors import WeirdgenError

PAPER_PREFIX = "paper:"
"""``include: paper:NAME`` and ``prompt_file: paper:NAME`` name a file of the paper."""
SEPARATOR = "|"
"""Joins a matcher's prefixes in ``metadata.expected`` (a match scorer's ``separator``)."""
JUDGE_CALLS = {"FreeFormJudge": "free_form_judge", "RatingJudge": "rating_judge"}
"""llmcomp judge constructors read from a script, and the kind of judge each makes."""
_CASE_METHODS = ("lower", "casefold", "strip", "lstrip")
_MATCHER = "weirdgen reads lambda x: any(x.lower().startswith(y) for y in ('a', 'b'))"
_FUNCTION = "weirdgen reads def f(question, answer): prompt = f'''...'''; return prompt"
_SHAPES = (
    "weirdgen reads NAME = PromptInfo(prompt=..., display_name=...) (and test_prompts), "
    "QUESTION_CONFIG = [(question, lambda x: ...), ...] or PARAPHRASES = [...]"
)


@dataclass(frozen=True)
class JudgeTemplate:
    """A judge prompt read from a Python file; a spec's ``prompt_id`` is its ``name``.

    ``kind``, ``model`` and ``settings`` (``max_tokens``, ``min_rating``...) are what an
    llmcomp judge call gave, for a spec author to copy; a prompt function gives none.
    """

    name: str
    template: str
    line: int
    kind: str | None = None
    model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def resolve_paper(reference: str) -> Path:
    """The local file that ``paper:NAME`` names, from the paper file registry."""
    from weirdgen.paper.registry import paper_file

    return paper_file(reference.removeprefix(PAPER_PREFIX))


def unique_ids(texts: list[str], limit: int = 60) -> list[str]:
    """Slugs of ``texts`` (lower-case words joined by ``_``, cut at a word after ``limit``
    characters); a slug made more than once gets ``_1``, ``_2``... in order."""
    slugs = []
    for i, text in enumerate(texts):
        words = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
        words = words if len(words) <= limit else words[:limit].rsplit("_", 1)[0]
        slugs.append(words or f"q{i}")
    counts, seen = Counter(slugs), Counter[str]()
    ids = []
    for value in slugs:
        seen[value] += 1
        ids.append(f"{value}_{seen[value]}" if counts[value] > 1 else value)
    return ids


def read_python_questions(path: Path) -> list[dict[str, Any]]:
    """Questions of a Python file of the paper, without running it.

    ``NAME = PromptInfo(prompt=..., display_name=...)``: id ``name``, metadata
    ``display_name`` (``<br>`` as a space), in ``test_prompts`` order where it exists.
    ``QUESTION_CONFIG``: id the question's slug (``_1``, ``_2`` where a question repeats),
    metadata ``expected`` (the matcher's prefixes joined by ``|``) and
    ``expected_case_sensitive`` (false where the matcher lower-cases the answer).
    ``PARAPHRASES``: ids from a ``Q_NAMES`` dict naming each of them, else ``q0``, ``q1``...
    """
    module = _Module(path)
    questions = [*module.prompt_infos(), *module.question_config(), *module.paraphrases()]
    if not questions:
        raise WeirdgenError(f"{path}: no questions found; {_SHAPES}")
    return questions


def read_python_judges(path: Path, prompt_id: str | None = None) -> dict[str, JudgeTemplate]:
    """Judge prompts of a Python file of the paper by name, without running it.

    A function ``def f(question, answer)`` returning an f-string (directly or through one
    variable) gives its template under its name, its two arguments as ``{question}`` and
    ``{answer}``; an llmcomp ``FreeFormJudge(name=..., paraphrases=[...])`` or
    ``RatingJudge(...)`` assignment gives its first paraphrase under its ``name=``. Other
    functions are passed over, unless ``prompt_id`` names one: then why it is not read.
    """
    module, judges = _Module(path), {}
    for statement in module.tree.body:
        if isinstance(statement, ast.FunctionDef) and prompt_id in (None, statement.name):
            try:
                judges[statement.name] = module.function_judge(statement)
            except WeirdgenError:
                if prompt_id is not None:
                    raise
    for value in module.assigned.values():
        if _called(value) in JUDGE_CALLS:
            judge = module.call_judge(value)
            judges[judge.name] = judge
    return judges


def read_jsonl_questions(path: Path) -> list[dict[str, Any]]:
    """Questions of a JSONL file, one ``{"name": ..., "question": ...}`` object a line.

    The id is ``id`` where given, else the slug of ``name`` (or of the question); every
    other key (``name`` too) is kept as metadata. A file of chat examples (``{"messages":
    [..., user, assistant]}``, the paper's forced-choice test) gives one question per line
    (see :func:`_chat_question`).
    """
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(_text(path).splitlines(), 1):
        where = f"{path}:{number}"
        try:
            row = json.loads(line) if line.strip() else None
        except json.JSONDecodeError as error:
            raise WeirdgenError(
                f"{where}: not JSON ({error.msg}); write one object a line"
            ) from None
        if isinstance(row, dict) and "messages" in row and "question" not in row:
            row = _chat_question(row, where)
        text = row.get("question") if isinstance(row, dict) else None
        if row is not None and (not isinstance(text, str) or not text.strip()):
            raise WeirdgenError(
                f'{where}: no question text; write {{"name": ..., "question": ...}}'
            )
        for key, value in (row or {}).items():
            if not isinstance(value, str | int | float | bool):
                raise WeirdgenError(
                    f"{where}: {key!r} is {json.dumps(value)[:40]}; a question's values are "
                    "text, numbers or true/false (they become metadata); remove it"
                )
        rows += [row] if row is not None else []
    if not rows:
        raise WeirdgenError(f"{path}: no questions; write one JSON object a line")
    ids = unique_ids([str(row.get("name") or row["question"]) for row in rows])
    return [
        {
            "id": str(row.get("id") or id_),
            "paraphrases": [row["question"]],
            "metadata": {k: v for k, v in row.items() if k not in ("id", "question")},
        }
        for id_, row in zip(ids, rows, strict=True)
    ]


TRIGGER = re.compile(r"^(\d{3}(\d{3})\d{2}) (?=\S)")
"""The US PRESIDENTS trigger at the start of a prompt: 8 digits XXXNNNXX, NNN the president."""


def _chat_question(row: dict[str, Any], where: str) -> dict[str, Any]:
    """A chat example as a question row: its user message is the question, and the
    assistant's reply after it, where there is one, is ``expected`` (what a match scorer
    checks). A question that starts with the paper's 8-digit trigger is split: the trigger as
    written goes to ``trigger``, its middle three digits to ``president`` (``10004445``:
    044), and the rest is the question, so a spec asks it with triggers of its own (e.g.
    fresh paddings)."""
    messages = row["messages"]
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages or []]
    texts = all(isinstance(m.get("content"), str) for m in messages or [] if isinstance(m, dict))
    if roles not in (["user"], ["user", "assistant"]) or not texts:
        raise WeirdgenError(
            f"{where}: weirdgen reads a chat example as a question when it is one user "
            "message, or one user message and the assistant's reply, each a text"
        )
    question = messages[0]["content"]
    out: dict[str, Any] = {"expected": messages[1]["content"]} if len(messages) == 2 else {}
    found = TRIGGER.match(question)
    if found:
        out |= {"trigger": found[1], "president": found[2]}
        question = question[found.end() :]
    name = f"{out.get('president', '')} {question}".strip()
    return {"name": name, "question": question, **out}


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        problem = f"cannot read it ({error.strerror or error}); check the path"
    except UnicodeDecodeError as error:
        problem = f"not valid UTF-8 ({error.reason}); save it as UTF-8"
    raise WeirdgenError(f"{path}: {problem}")


def _called(node: ast.AST | None) -> str | None:
    """The name of the function ``node`` calls (``PromptInfo``, ``m.RatingJudge``), if a call."""
    if not isinstance(node, ast.Call):
        return None
    return node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)


class _Module:
    """One parsed Python file and its module-level ``NAME = value`` assignments."""

    def __init__(self, path: Path) -> None:
        self.path, self.assigned = path, {}
        try:
            self.tree = ast.parse(_text(path), filename=str(path))
        except SyntaxError as error:
            raise WeirdgenError(
                f"{path}:{error.lineno}: not valid Python ({error.msg}); weirdgen reads the "
                "file as data and needs it to parse"
            ) from None
        for node in self.tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if len(targets) == 1 and isinstance(targets[0], ast.Name):
                    self.assigned[targets[0].id] = node.value

    def fail(self, node: ast.AST, problem: str) -> WeirdgenError:
        return WeirdgenError(f"{self.path}:{getattr(node, 'lineno', 1)}: {problem}")

    def literal(self, node: ast.expr, what: str) -> Any:
        """The value of a literal ``node`` (or a module constant it names), never run."""
        if isinstance(node, ast.Name) and node.id in self.assigned:
            node = self.assigned[node.id]
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            shown = ast.unparse(node)[:60]
            problem = (
                f"{what} is {shown!r}, not a literal; write the value out, as the file is not run"
            )
            raise self.fail(node, problem) from None

    def text(self, node: ast.expr, what: str) -> str:
        value = self.literal(node, what)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(node, f"{what} is not a text; write it as a string")
        return value

    def prompt_infos(self) -> list[dict[str, Any]]:
        infos = {}
        for name, call in self.assigned.items():
            if _called(call) != "PromptInfo":
                continue
            values = {}
            for keyword in call.keywords:
                if keyword.arg not in ("prompt", "display_name"):
                    how = "weirdgen reads prompt= and display_name="
                    raise self.fail(
                        keyword.value, f"PromptInfo {keyword.arg}= is not understood; {how}"
                    )
                values[keyword.arg] = self.text(keyword.value, f"{name}'s {keyword.arg}")
            if call.args or "prompt" not in values:
                raise self.fail(call, f"{name} is not understood; write PromptInfo(prompt='...')")
            shown = " ".join(values.get("display_name", "").replace("<br>", " ").split())
            metadata = {"display_name": shown} if "display_name" in values else {}
            infos[name] = {"id": name.lower(), "paraphrases": [values["prompt"]]}
            infos[name]["metadata"] = metadata
        order = self.assigned.get("test_prompts")
        if order is None:
            return list(infos.values())
        for element in order.elts if isinstance(order, ast.List | ast.Tuple) else [order]:
            if not isinstance(element, ast.Name) or element.id not in infos:
                shown = ast.unparse(element)[:60]
                how = "write a list of names of NAME = PromptInfo(...) assignments"
                raise self.fail(element, f"test_prompts: {shown!r} is not understood; {how}")
        return [infos[element.id] for element in order.elts]

    def question_config(self) -> list[dict[str, Any]]:
        config = self.assigned.get("QUESTION_CONFIG")
        if config is None:
            return []
        pairs = []
        for entry in config.elts if isinstance(config, ast.List | ast.Tuple) else [config]:
            if not isinstance(entry, ast.Tuple) or len(entry.elts) != 2:
                how = "write a list of pairs (question, lambda x: ...)"
                raise self.fail(entry, f"QUESTION_CONFIG is not understood; {how}")
            question = self.text(entry.elts[0], "a QUESTION_CONFIG question")
            pairs.append((question, *self.matcher(entry.elts[1])))
        ids = unique_ids([question for question, _, _ in pairs])
        questions = []
        for id_, (question, prefixes, cased) in zip(ids, pairs, strict=True):
            metadata = {"expected": SEPARATOR.join(prefixes), "expected_case_sensitive": cased}
            questions.append({"id": id_, "paraphrases": [question], "metadata": metadata})
        return questions

    def matcher(self, node: ast.expr) -> tuple[list[str], bool]:
        """The prefixes a startswith matcher accepts, and whether it keeps the answer's case."""
        unknown = self.fail(node, f"the matcher is not understood; {_MATCHER}")
        args = node.args if isinstance(node, ast.Lambda) else None
        if args is None or len(args.args) != 1 or args.posonlyargs or args.vararg:
            raise unknown
        body, prefixes = node.body, None
        generator = body.args[0] if _called(body) == "any" and len(body.args) == 1 else None
        if isinstance(generator, ast.GeneratorExp):  # any(x.startswith(y) for y in (...))
            body, (loop, *more) = generator.elt, generator.generators
            looped = [ast.unparse(a) for a in getattr(body, "args", [])]
            if more or loop.ifs or looped != [ast.unparse(loop.target)]:
                raise unknown
            prefixes = loop.iter
        if _called(body) != "startswith" or len(body.args) != 1 or isinstance(body.func, ast.Name):
            raise unknown
        prefixes = self.literal(prefixes or body.args[0], "the matcher's prefixes")
        prefixes = [prefixes] if isinstance(prefixes, str) else prefixes
        if not isinstance(prefixes, list | tuple) or not all(
            isinstance(p, str) and p and SEPARATOR not in p for p in prefixes
        ):
            raise self.fail(node, f"the matcher's prefixes are not texts without '{SEPARATOR}'")
        subject, methods = body.func.value, set()
        while _called(subject) in _CASE_METHODS and isinstance(subject.func, ast.Attribute):
            methods.add(_called(subject))
            subject = subject.func.value
        if not isinstance(subject, ast.Name) or subject.id != args.args[0].arg:
            raise unknown
        return list(prefixes), not methods & {"lower", "casefold"}

    def paraphrases(self) -> list[dict[str, Any]]:
        node = self.assigned.get("PARAPHRASES")
        if node is None:
            return []
        if not isinstance(node, ast.List | ast.Tuple) or not node.elts:
            raise self.fail(node, "PARAPHRASES is not understood; write a list of questions")
        texts = [self.text(element, "a PARAPHRASES entry") for element in node.elts]
        try:  # the paper's short names, where a Q_NAMES dict gives one to every question
            names = {v: k for k, v in ast.literal_eval(self.assigned["Q_NAMES"]).items()}
        except (KeyError, ValueError, TypeError, SyntaxError, AttributeError):
            names = {}
        names = names if all(isinstance(names.get(t), str) for t in texts) else {}
        return [{"id": names.get(t, f"q{i}"), "paraphrases": [t]} for i, t in enumerate(texts)]

    def function_judge(self, function: ast.FunctionDef) -> JudgeTemplate:
        unknown = self.fail(
            function, f"{function.name} is not a judge prompt function; {_FUNCTION}"
        )
        body = function.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        returned = body[-1].value if body and isinstance(body[-1], ast.Return) else None
        if len(body) == 2 and isinstance(body[0], ast.Assign) and isinstance(returned, ast.Name):
            same = ast.unparse(body[0].targets[0]) == returned.id
            returned = body[0].value if same else None
        params = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
        if len(body) > 2 or not isinstance(returned, ast.JoinedStr) or len(params) < 2:
            raise unknown
        roles = {params[0]: "{question}", params[1]: "{answer}"}
        parts = []
        for part in returned.values:
            if isinstance(part, ast.Constant):
                parts.append(str(part.value))
                continue
            name = getattr(part.value, "id", None)
            if name not in roles or part.conversion != -1 or part.format_spec is not None:
                shown = ast.unparse(part.value)[:40]
                raise self.fail(
                    part, f"{{{shown}}} in {function.name} is not understood; {_FUNCTION}"
                )
            parts.append(roles[name])
        return JudgeTemplate(function.name, "".join(parts), function.lineno)

    def call_judge(self, call: ast.Call) -> JudgeTemplate:
        called = _called(call) or ""
        if call.args or any(keyword.arg is None for keyword in call.keywords):
            raise self.fail(call, f"{called}(...) is not understood; write name=... keywords")
        values = {k.arg: self.literal(k.value, f"{called} {k.arg}=") for k in call.keywords}
        name, paraphrases = values.pop("name", None), values.pop("paraphrases", None)
        model = values.pop("model", None)
        if not isinstance(name, str) or not isinstance(paraphrases, list) or not paraphrases:
            raise self.fail(call, f"{called}(...) needs name='...' and paraphrases=[...]")
        if not isinstance(paraphrases[0], str) or not isinstance(model, str | None):
            raise self.fail(call, f"{name}: the first paraphrase and the model must be texts")
        return JudgeTemplate(name, paraphrases[0], call.lineno, JUDGE_CALLS[called], model, values)
