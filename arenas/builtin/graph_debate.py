"""Multi-agent debate on a communication graph, with SelfOrg's self-organising DAG (``sparring/graph-debate-v1``).

Seats and what each sees:
    debater (one seat; ``debaters`` copies of it, numbered 0..n-1, share its adapter):
        round 0: the task family's prompt (training split, or ``split = "held_out"``),
        answered by all debaters as ``n`` independent samples of one ask (one GRPO group),
        each ending with ``Answer: <answer>``. Rounds 1..``rounds``-1: debater ``v`` sees
        the prompt, its own previous reply and the latest replies of its in-neighbours on
        that round's graph (each cut to 400 characters), labelled ``Agent <u>``, and
        answers again. No debater ever sees the truth.

Graphs (``networkx`` directed graphs; an edge ``u -> v`` means ``v`` reads ``u``):
    ``complete`` (default): every debater reads every other. ``ring``: debater ``v``
    reads ``v - 1`` and ``v + 1`` (mod n). ``star``: debater 0 reads all others, the
    others read debater 0. ``selforg``: a DAG rebuilt before every round from estimated
    contributions: debater ``u``'s contribution is the share of the other debaters whose
    latest parsed answer equals ``u``'s (support for its answer; 0 when unparseable),
    ties broken by the mean word-set Jaccard similarity of its reply to the others'
    replies (closeness to the consensus text), then by the lower index. Debaters are
    ranked by contribution, and each reads the ``fan_in`` top-ranked debaters (the first
    ``fan_in`` of the ranking; fewer for those ranked within it, which read only the ones
    above them): edges only point down the ranking, so the graph is acyclic, responses
    flow from the most reliable agents to the rest, and the top-ranked debater reads no
    one (it re-checks its own answer).
    Each round's graph is stored in the outcome as an edge list (``rounds[r]["edges"]``,
    empty for round 0), with the contributions that built it for ``selforg``.

Final answer: the majority of the last round's parsed answers (the most common one,
ties to the lowest debater; none when no two debaters agree, as in ``propose-solve``),
answers compared by the family's checker, by value (``5`` equals ``5.0``;
:func:`sparring.rewards.equivalence.majority_vote`, the library's one vote); the support of
SelfOrg's contributions and the agreement flags use the same comparison.

Rewards (per debater turn, every round, in [0, 1]):
    ``debater_majority`` (label-free, the default): 1 when the turn's answer equals the
        final majority answer, else 0 (0 for all when there is no majority).
    ``debater_truth``: 1 when the turn's answer checks against the family's truth (for a
        recipe that asks for truth: ``roles.debater.reward = "debater_truth"``).

Monitors and evaluation (``debate/<key>``): ``majority_accuracy`` (the final majority is
the truth; the debate's answer), ``first_round_accuracy`` (mean accuracy of round-0
answers: the single-agent baseline), ``last_round_accuracy``, ``agreement`` (share of
last-round answers equal to the majority) and ``changed_rate`` (answers that differ from
the same debater's previous round). The declared evaluation plays the held-out split
*sampled*, not greedy: greedy copies of one model would all answer alike and there would
be nothing to debate (seeds are fixed, so it is still deterministic).

Papers: Du, Li, Torralba, Tenenbaum, Mordatch, "Improving Factuality and Reasoning in
Language Models through Multiagent Debate" (2023): n agents, r rounds, each round reading
the others' answers, final answer by majority; Subramaniam et al., "Multiagent
Finetuning" (2025): train on replies that agree with the final majority (the recipe:
``sft`` on ``debater_majority``). SelfOrg ("self-organising" multi-agent debate, 2025):
the communication graph is a DAG rebuilt each round from each agent's estimated
contribution, so responses flow from the more to the less reliable agents. Departures:
all debaters share one seat and adapter (the papers may use distinct models); SelfOrg
estimates contributions from response embeddings, here from answer agreement and word
overlap (no embedding model is available offline); ring and star graphs are parameters
for topology studies.

Versions: v1, first version; revised: SelfOrg debaters read the top-ranked debaters (they
read the nearest-ranked ones above them), and answers are compared by the family's checker
in the vote, the agreement flags and the contributions (they were compared with ``==``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.task_eval import item_key
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.items import SplitItems
from sparring.arenas.match import Match, Reply
from sparring.arenas.tasks import TaskError, TaskFamily, difficulty_range, get_family
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.equivalence import equivalent, majority_vote
from sparring.rewards.measurements import jaccard, mean
from sparring.rewards.metrics import Metric, metric

if TYPE_CHECKING:
    import networkx as nx

GRAPHS = ("complete", "ring", "star", "selforg")
SHOWN_CHARS = 400


def _agree(a: Any, b: Any, same: Callable[[Any, Any], bool]) -> bool:
    return a is not None and b is not None and same(a, b)


def contributions(answers: Sequence[Any], texts: Sequence[str],
                  same: Callable[[Any, Any], bool] = equivalent) -> list[tuple[float, float]]:
    """Each debater's (answer support, mean text similarity) to the others (see module docs);
    answers are compared by ``same`` (the arena passes its family's checker)."""
    n = len(answers)
    out = []
    for u in range(n):
        others = [v for v in range(n) if v != u]
        support = sum(_agree(answers[u], answers[v], same) for v in others) / len(others) if others else 0.0
        similarity = sum(jaccard(texts[u], texts[v]) for v in others) / len(others) if others else 0.0
        out.append((support, similarity))
    return out


def build_graph(kind: str, n: int, answers: Sequence[Any] = (), texts: Sequence[str] = (),
                fan_in: int = 2, same: Callable[[Any, Any], bool] = equivalent) -> nx.DiGraph:
    """The communication graph of one round (``u -> v``: ``v`` reads ``u``).

    ``selforg``: debaters ranked by :func:`contributions`; each reads the ``fan_in``
    top-ranked debaters ranked above it (the top-ranked one reads no one)."""
    import networkx as nx  # a core dependency, imported on use to keep ``import sparring`` fast

    if kind == "complete":
        return nx.complete_graph(n, create_using=nx.DiGraph)
    if kind == "ring":
        return nx.cycle_graph(n).to_directed()
    if kind == "star":
        return nx.star_graph(n - 1).to_directed()
    if kind != "selforg":
        raise TaskError(f"graph must be one of {', '.join(GRAPHS)}, got {kind!r}")
    scores = contributions(answers, texts, same)
    ranking = sorted(range(n), key=lambda u: (-scores[u][0], -scores[u][1], u))
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    for position, v in enumerate(ranking):
        graph.add_edges_from((u, v) for u in ranking[:min(position, fan_in)])
    return graph


def _turn_indices(transcript: Transcript) -> list[list[int]] | None:
    """Turn index of each debater's reply in each round (from the recorded ask keys)."""
    outcome = transcript.outcome or {}
    if "rounds" not in outcome:
        return None
    index = {(u.ask, u.sample): u.index for u in transcript.turns if u.role == "debater"}
    return [[index[(a, s)] for a, s in r["turns"]] for r in outcome["rounds"]]


def _per_turn(transcript: Transcript, key: str, what: str) -> list[Score] | None:
    turns = _turn_indices(transcript)
    outcome = transcript.outcome or {}
    if turns is None or (key == "majority" and "majority" not in outcome):
        return None
    scores = []
    for r, (idx, round_) in enumerate(zip(turns, outcome["rounds"], strict=True)):
        flags = round_["agree"] if key == "majority" else round_["correct"]
        for v, (i, ok) in enumerate(zip(idx, flags, strict=True)):
            scores.append(Score("debater", float(ok), f"round {r}, debater {v}: {round_['answers'][v]!r} vs "
                                                      f"{what} {outcome[key]!r}", turn=i))
    return scores


@reward("debater_majority", bounds=(0.0, 1.0))
def debater_majority(transcript: Transcript) -> list[Score] | None:
    """1 per debater turn whose answer equals the final majority answer (label-free)."""
    return _per_turn(transcript, "majority", "final majority")


@reward("debater_truth", bounds=(0.0, 1.0))
def debater_truth(transcript: Transcript) -> list[Score] | None:
    """1 per debater turn whose answer checks against the family's truth."""
    return _per_turn(transcript, "truth", "truth")


@metric("debate")
def debate_metrics(transcripts: Sequence[Transcript]) -> dict[str, float | None] | None:
    """Majority, first- and last-round accuracy, agreement and changed answers (module docs)."""
    rounds = [t.outcome["rounds"] for t in transcripts if t.outcome and "rounds" in t.outcome]
    if not rounds:
        return None
    changed = [a != b for rs in rounds for prev, cur in zip(rs, rs[1:], strict=False)
               for a, b in zip(prev["answers"], cur["answers"], strict=True)]
    return {
        "majority_accuracy": mean([bool(t.outcome["majority_correct"]) for t in transcripts
                                    if t.outcome and "rounds" in t.outcome]),
        "first_round_accuracy": mean([c for rs in rounds for c in rs[0]["correct"]]),
        "last_round_accuracy": mean([c for rs in rounds for c in rs[-1]["correct"]]),
        "agreement": mean([c for rs in rounds for c in rs[-1]["agree"]]),
        "changed_rate": mean(changed),
    }


def debater_role(family: TaskFamily) -> Role:
    """A debater for ``family``: answers and ends with ``Answer: <answer>``, parsed by the family."""
    return Role(name="debater",
                system_prompt="You are a careful solver debating with other agents. Solve the problem; "
                              "end with 'Answer: <answer>'.",
                parser=family.parser, sampling=SamplingParams(max_new_tokens=64, temperature=0.8))


class GraphDebate(SplitItems, Arena):
    """Debaters answer, then revise after reading their in-neighbours on a graph; majority decides.

    Args:
        family: Task family (name, ``.jsonl`` path or ``module:attribute``).
        difficulty: A difficulty or an inclusive ``[low, high]`` range drawn per match.
        debaters: Number of debaters n (2 to 8).
        rounds: Number of rounds r (1 to 4; 1 is independent answers and a vote).
        graph: ``complete``, ``ring``, ``star`` or ``selforg``.
        fan_in: For ``selforg``: how many higher-ranked debaters each one reads.
        split: ``train`` (training) or ``held_out`` (the evaluation variant).
    """

    id = "sparring/graph-debate-v1"
    short_name = "graph-debate"
    roles = ("debater",)
    reward_bounds = (0.0, 1.0)
    max_turns = 32
    default_rewards = {"debater": "debater_majority"}

    def __init__(self, family: str = "arithmetic", difficulty: int | Sequence[int] = (1, 2), debaters: int = 3,
                 rounds: int = 2, graph: str = "complete", fan_in: int = 2, split: str = "train") -> None:
        super().__init__()
        self.family = get_family(family)
        self.difficulty = difficulty_range(difficulty, self.family)
        for name, value, low, high in (("debaters", debaters, 2, 8), ("rounds", rounds, 1, 4),
                                       ("fan_in", fan_in, 1, 7)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise TaskError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        if graph not in GRAPHS:
            raise TaskError(f"graph must be one of {', '.join(GRAPHS)}, got {graph!r}")
        self.set_split(split)
        self.debaters, self.rounds, self.graph, self.fan_in = debaters, rounds, graph, fan_in
        example = f"Answer: {self.family.items(1, 0, self.difficulty[0])[0].answer}"
        self.examples = {"debater": [example, *getattr(self.family.parser, "examples", ())]}  # type: ignore[misc]

    def default_roles(self) -> dict[str, Role]:
        """A debater whose parser reads the family's kind of answer."""
        return {"debater": debater_role(self.family)}

    def rewards(self) -> Sequence[Reward]:
        """Agreement with the final majority (label-free) and with the truth."""
        return (debater_majority, debater_truth)

    def evaluation(self) -> Evaluation:
        """The held-out split, sampled (see module docs): ``debate/*``."""
        family = str(self.kwargs.get("family", self.family.name))
        variant = GraphDebate(family=family, difficulty=list(self.difficulty), debaters=self.debaters,
                              rounds=self.rounds, graph=self.graph, fan_in=self.fan_in, split="test")
        return Evaluation(arena=variant, metrics=[debate_metrics], greedy=False, item=item_key)

    def monitors(self) -> Sequence[Metric]:
        """Majority and per-round accuracy, agreement, changed answers."""
        return (debate_metrics,)

    def revise_prompt(self, question: str, own: str, shown: Sequence[tuple[int, str]]) -> str:
        """What debater ``v`` sees after round 0: the question, its reply, its in-neighbours' replies."""
        if shown:
            others = "".join(f"Agent {u}: {text.strip()[:SHOWN_CHARS]}\n" for u, text in shown)
            middle = (f"Answers from other agents:\n{others}\nUse these answers carefully as additional advice and "
                      "give your updated answer.")
        else:
            middle = "No other agent's answer is shared with you this round. Check your answer and give it again."
        return (f"{question}\n\nYour previous answer:\n{own.strip()[:SHOWN_CHARS]}\n\n{middle} "
                "End with 'Answer: <answer>'.")

    async def play(self, match: Match) -> Outcome:
        """Round 0: n samples of the prompt; later rounds: each debater reads its in-neighbours."""
        item = self.draw_item(match)
        latest: list[Reply] = await match.ask("debater", item.prompt, n=self.debaters)
        history = [self._round(item, latest, [], None)]
        for _ in range(1, self.rounds):
            answers = [r.parsed if r.ok else None for r in latest]
            graph = build_graph(self.graph, self.debaters, answers, [r.text for r in latest], self.fan_in,
                                self.family.check)
            previous = latest

            async def revise(v: int, previous: list[Reply] = previous, graph: Any = graph) -> Reply:
                shown = [(u, previous[u].text) for u in sorted(graph.predecessors(v))]
                return await match.ask("debater", self.revise_prompt(item.prompt, previous[v].text, shown))

            latest = await match.gather(revise(v) for v in range(self.debaters))
            scores = (contributions(answers, [r.text for r in previous], self.family.check)
                      if self.graph == "selforg" else None)
            history.append(self._round(item, latest, sorted(graph.edges), scores))
        top, count = majority_vote(history[-1]["answers"], self.family.check, min_votes=2)
        for round_ in history:
            round_["agree"] = [_agree(a, top, self.family.check) for a in round_["answers"]]
        values: dict[str, Any] = {
            "family": self.family.name, "difficulty": item.difficulty, "split": self.split, "prompt": item.prompt,
            "item_key": item.key, "truth": item.answer, "graph": self.graph, "rounds": history,
            "majority": top, "majority_count": count,
            "majority_correct": top is not None and self.family.check(top, item.answer),
        }
        return Outcome(values, f"{item.prompt} -> {[r['answers'] for r in history]!r}; majority {top!r} "
                               f"({count}/{self.debaters}), truth {item.answer!r}")

    def _round(self, item: Any, replies: Sequence[Reply], edges: list[tuple[int, int]],
               scores: list[tuple[float, float]] | None) -> dict[str, Any]:
        answers = [r.parsed if r.ok else None for r in replies]
        out: dict[str, Any] = {"edges": [list(e) for e in edges], "answers": answers,
                               "correct": [self.family.check(a, item.answer) for a in answers],
                               "turns": [[r.ask, r.sample] for r in replies]}
        if scores is not None:
            out["contributions"] = [list(s) for s in scores]
        return out
