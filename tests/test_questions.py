"""The question set: for each plain-language question, the tool calls a good model would make return
the answer a brute-force count over the simulator's raw data gives."""

from __future__ import annotations

import pytest

from evals.oracle import Oracle
from evals.questions import QUESTIONS

from .conftest import NOW
from .mcp_helpers import connect, data

pytestmark = pytest.mark.anyio


def test_there_are_at_least_40_distinct_questions():
    assert len(QUESTIONS) >= 40
    assert len({question.ask for question in QUESTIONS}) == len(QUESTIONS)


@pytest.mark.parametrize("question", QUESTIONS, ids=[q.ask[:60] for q in QUESTIONS])
async def test_the_tools_answer_the_question(shared_sandbox, question):
    oracle = Oracle.of(shared_sandbox.data, NOW)
    _, steps, values = question.render(oracle)
    async with connect(shared_sandbox) as (client, _):
        results = [data(await client.call_tool(tool, arguments)) for tool, arguments in steps]
    expected = question.expected(oracle, values)
    assert expected not in (None, 0, [], ""), "the data set must make the question non-trivial"
    assert question.answer(results) == expected
