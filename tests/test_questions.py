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


@pytest.mark.parametrize(
    ("answer", "expected", "ok"),
    [
        ("We missed 10 calls on Sales last week.", 10, True),
        ("We missed 1,204 calls.", 1204, True),
        ("We missed 12 calls.", 10, False),
        ("About 27.8 % of incoming calls were missed.", 0.278, True),
        ("Roughly 28% were missed.", 0.278, True),
        ("Jean-Pierre Rousseau at +33 6 52 60 18 15 called most.", "+33652601815", True),
        ("It is the sales line.", "Sales", True),
        ("24 calls, 4 of them missed", (24, 4), True),
        ("24 calls, none missed", (24, 4), False),
        ("Yes, voicemail is on.", True, True),
    ],
)
def test_the_llm_runner_scores_answers_written_in_the_usual_ways(answer, expected, ok):
    from evals.run_llm import matches

    assert matches(answer, expected) is ok


async def test_the_llm_runner_hands_the_model_every_tool_in_the_api_format(shared_sandbox):
    from evals.run_llm import anthropic_tools

    async with connect(shared_sandbox) as (client, _):
        tools = anthropic_tools((await client.list_tools()).tools)
    assert len(tools) == 21
    assert all(t["input_schema"]["type"] == "object" and t["description"] for t in tools)
