"""graph-debate: conformance, graphs, visibility, rewards and metrics by hand, golden transcripts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from sparring.agents.engines.base import GenerationRequest
from sparring.arenas import GraphDebate, TaskError, Transcript, check_arena, check_reward, replay
from sparring.arenas.builtin.graph_debate import (
    build_graph,
    contributions,
    debate_metrics,
    debater_majority,
    debater_truth,
)
from sparring.arenas.replay import diff
from sparring.arenas.scoring import apply_rewards
from sparring.runs.recipes.recipe import RoleSection
from sparring.runs.training.algorithms import BuildContext, get_algorithm
from tests.arenas.task_scripts import play

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "graph_debate.json"


def _truth(request: GenerationRequest) -> int:
    a, op, b = re.search(r"What is (\d+) ([+-]) (\d+)\?", request.messages[1]["content"]).groups()  # type: ignore[union-attr]
    return int(a) + int(b) if op == "+" else int(a) - int(b)


class InRequestOrder:
    """Offsets from the truth, in the order debaters are asked (round 0 first)."""

    def __init__(self, offsets: list[int | None]) -> None:
        self.offsets, self.k = offsets, 0

    def __call__(self, request: GenerationRequest, index: int) -> str:
        offset = self.offsets[self.k % len(self.offsets)]
        self.k += 1
        return "I do not know." if offset is None else f"Answer: {_truth(request) + offset}"


@pytest.mark.parametrize("arena", [
    GraphDebate(), GraphDebate(graph="ring", debaters=4, rounds=3), GraphDebate(graph="star", debaters=5),
    GraphDebate(graph="selforg", debaters=4, rounds=3, fan_in=1, family="sorting"),
    GraphDebate(family="letters", rounds=1, split="held_out"),
])
def test_check_arena(arena: GraphDebate) -> None:
    assert not check_arena(arena).warnings


def test_fixed_graphs() -> None:
    assert sorted(build_graph("complete", 3).edges) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    ring = build_graph("ring", 4)
    assert sorted(ring.predecessors(0)) == [1, 3] and sorted(ring.predecessors(2)) == [1, 3]
    star = build_graph("star", 4)
    assert sorted(star.predecessors(0)) == [1, 2, 3] and list(star.predecessors(3)) == [0]


def test_selforg_dag_from_contributions_by_hand() -> None:
    answers = [5, 7, 7, None]
    texts = ["Answer: 5", "so Answer: 7", "Answer: 7", "hmm"]
    scores = contributions(answers, texts)
    # support: debater 1 and 2 agree with one of three others; 0 and 3 with none
    assert [s for s, _ in scores] == [0.0, pytest.approx(1 / 3), pytest.approx(1 / 3), 0.0]
    # similarity breaks ties: 2 ("Answer: 7") shares more words than 1, 0 more than 3
    # ranking 2, 1, 0, 3; with fan_in 2 each reads the (up to) two top-ranked (SelfOrg):
    # the last-ranked debater 3 reads 2 and 1, not the two just above it (1 and 0)
    graph = build_graph("selforg", 4, answers, texts, fan_in=2)
    assert nx.is_directed_acyclic_graph(graph)
    assert sorted(graph.edges) == [(1, 0), (1, 3), (2, 0), (2, 1), (2, 3)]
    assert list(graph.predecessors(2)) == [] and sorted(graph.predecessors(3)) == [1, 2]
    top_one = build_graph("selforg", 4, answers, texts, fan_in=1)
    assert sorted(top_one.edges) == [(2, 0), (2, 1), (2, 3)]  # everyone reads the top-ranked debater


def test_selforg_support_compares_answers_by_value() -> None:
    scores = contributions([5, 5.0, 7], ["a", "b", "c"])
    assert [s for s, _ in scores] == [0.5, 0.5, 0.0]


def test_visibility_rewards_and_metrics_by_hand() -> None:
    # round 0: right, +1, +1; round 1 (debaters 0, 1, 2 in order): right, +1, right
    [t], engine = play(GraphDebate(debaters=3, rounds=2, graph="star"), InRequestOrder([0, 1, 1, 0, 1, 0]))
    o = t.outcome
    truth = o["truth"]
    assert o["rounds"][0]["answers"] == [truth, truth + 1, truth + 1] and o["rounds"][0]["edges"] == []
    assert o["rounds"][1]["answers"] == [truth, truth + 1, truth]
    assert o["rounds"][1]["edges"] == [[0, 1], [0, 2], [1, 0], [2, 0]]
    assert o["majority"] == truth and o["majority_correct"] is True
    # star: the hub (0) reads 1 and 2; leaf 1 reads only the hub
    hub, leaf = engine.requests[3].messages[-1]["content"], engine.requests[4].messages[-1]["content"]
    assert "Agent 1:" in hub and "Agent 2:" in hub and "Agent 0:" not in hub
    assert "Agent 0:" in leaf and "Agent 2:" not in leaf and f"Answer: {truth + 1}" in leaf  # its own reply
    assert all(str(truth) not in r.messages[-1]["content"].split() for r in engine.requests[:3])
    majority = [s.value for s in debater_majority(t)]  # type: ignore[union-attr]
    assert majority == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    assert [s.value for s in debater_truth(t)] == majority  # type: ignore[union-attr]
    assert [t.turns[s.turn].ask for s in debater_majority(t)] == [0, 0, 0, 1, 2, 3]  # type: ignore[union-attr]
    # changed: debater 2 only (1 of 3); agreement in the last round 2/3
    assert debate_metrics.compute([t]) == {
        "debate/majority_accuracy": 1.0, "debate/first_round_accuracy": pytest.approx(1 / 3),
        "debate/last_round_accuracy": pytest.approx(2 / 3), "debate/agreement": pytest.approx(2 / 3),
        "debate/changed_rate": pytest.approx(1 / 3)}


def test_no_majority_and_rewards_conform() -> None:
    [t], _ = play(GraphDebate(debaters=3, rounds=1), InRequestOrder([0, 1, None]))
    assert t.outcome["majority"] is None and t.outcome["majority_correct"] is False
    assert [s.value for s in debater_majority(t)] == [0.0, 0.0, 0.0]  # type: ignore[union-attr]
    transcripts, _ = play(GraphDebate(graph="selforg", debaters=4, rounds=3), InRequestOrder([0, 1, 1, None, 2]),
                          seeds=range(5))
    assert check_reward(debater_majority, transcripts) == check_reward(debater_truth, transcripts) == 60
    assert all(len(t.outcome["rounds"][1]["contributions"]) == 4 for t in transcripts)


def test_evaluation_is_held_out_and_sampled() -> None:
    ev = GraphDebate(graph="ring", debaters=4).evaluation()
    assert ev.greedy is False and ev.arena.kwargs["split"] == "test" and ev.arena.kwargs["graph"] == "ring"


def test_arguments_are_checked() -> None:
    with pytest.raises(TaskError, match="debaters must be an integer in 2..8, got 1"):
        GraphDebate(debaters=1)
    with pytest.raises(TaskError, match="graph must be one of complete, ring, star, selforg, got 'tree'"):
        GraphDebate(graph="tree")
    with pytest.raises(TaskError, match="rounds must be an integer in 1..4"):
        GraphDebate(rounds=5)


def test_importing_the_arenas_does_not_load_networkx() -> None:
    code = "import sys, sparring, sparring.arenas; print('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


GOLDEN_REPLIES = ["Answer: 12", "I think it is 40.\nAnswer: 40", "no idea", "Answer: 7", "Answer: 48", "Answer: 6"]


def golden_script(request: GenerationRequest, index: int) -> str:
    """Replies picked by row seed (independent of batching)."""
    return GOLDEN_REPLIES[request.seed % len(GOLDEN_REPLIES)]


def _played() -> list[dict[str, Any]]:
    transcripts, _ = play(GraphDebate(debaters=3, rounds=3, graph="selforg", fan_in=1), golden_script,
                          seeds=range(6))
    return [t.comparable() for t in transcripts]


def test_golden_transcripts() -> None:
    """Regenerate after an intended change: SPARRING_UPDATE_GOLDEN=1 python -m pytest -q <this file>."""
    played = _played()
    if os.environ.get("SPARRING_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(played, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    differences = diff(golden, played)
    assert not differences, "graph-debate no longer plays its golden transcripts:\n" + "\n".join(differences)
    for data in golden:
        assert replay(Transcript.model_validate(data)).identical
    values = {(r["reward"], r["value"]) for t in golden for r in t["rewards"]}
    assert {("debater_majority", 1.0), ("debater_majority", 0.0)} <= values


def test_sft_on_majority_from_the_algorithm_table() -> None:
    arena = GraphDebate(debaters=3, rounds=2, graph="star")
    [t], _ = play(arena, InRequestOrder([0, 1, 1, 0, 1, 0]))
    apply_rewards(t, arena.rewards())
    for u in t.turns:
        u.token_ids = [1, 2]  # the scripted engine records none; the builder needs reply ids
    context = BuildContext([t], "debater", "debater_majority", (0.0, 1.0), arena,
                           RoleSection(adapter="debater", update="sft"), lambda msgs: [0], lambda text: [0])
    samples = get_algorithm("sft").build(context)
    # the turns agreeing with the final majority (the truth here): debater 0 twice, debater 2 in round 1
    assert sorted(s.meta["turn"] for s in samples) == [0, 3, 5]
