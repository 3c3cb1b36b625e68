"""A judge called from the scorer's worker thread: its calls run as plain tasks on the
evaluation's loop, outside the cancel scopes of the scorer that started the thread.

Through anyio.from_thread.run, the call's task joined the scorer's cancel scope; in CI (and once
in a fresh clone here, under load) such a task spun in anyio's cancellation checkpoint without
end, inside test_inspect_judges, until the run was stopped at 90 minutes. The spin was not
reproduced on demand; what is checked here is that a call is made and answered even while a
scope above the scorer is cancelled (as Inspect cancels a sample's task group when the solver
ends), and that a call outside a scorer says where it belongs."""

from __future__ import annotations

import threading

import anyio
import anyio.lowlevel
import pytest
from inspect_ai.model import get_model

from weirdgen.backends.protocol import ChatMessage, SampleRequest
from weirdgen.errors import WeirdgenError
from weirdgen.inspect.judges import InspectJudgeModel, judging

REQUEST = SampleRequest((ChatMessage(role="user", content="name a bird ."),), 0.0, 4, 7)
"""A request the organism answers offline (Inspect's mockllm counts tokens with tiktoken,
which downloads its encoding)."""


@pytest.mark.timeout(60)
def test_a_judge_call_after_a_scope_above_the_scorer_was_cancelled():
    judge = InspectJudgeModel(get_model("organism/default"))
    ref = judge.base()
    started, cancelled = threading.Event(), threading.Event()
    answers = []

    def work() -> None:  # the scorer's thread: it calls the judge once the scope is cancelled
        started.set()
        assert cancelled.wait(30)
        answers.extend(judge.complete(ref, [REQUEST]))

    async def main():
        sample = anyio.CancelScope()  # a scope above the scorer, not shielded

        async def close_sample():  # outside it, as Inspect's run loop is
            while not started.is_set():  # the scorer's thread is running
                await anyio.sleep(0.01)
            sample.cancel()
            for _ in range(5):  # the cancellation is delivered, and its delivery ends
                await anyio.lowlevel.checkpoint()
            cancelled.set()

        async with anyio.create_task_group() as group:
            group.start_soon(close_sample)
            with sample:
                await judging(work)

    anyio.run(main)
    assert len(answers) == 1 and answers[0].text


def test_a_judge_called_outside_a_scorer_says_where_it_runs():
    judge = InspectJudgeModel(get_model("organism/default"))
    with pytest.raises(WeirdgenError, match="inside weirdgen.inspect.judges.judging"):
        judge.complete(judge.base(), [REQUEST])
