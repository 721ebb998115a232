"""Self-play with tree-search refinement: SPaR (``sparring/tree-refine-v1``).

Seats and what each sees (a recipe binds them to two adapters, ``actor`` and ``refiner``,
both trained):
    actor: one prompt of the task family (default ``instructions``: open writing tasks
        with 1 to 3 checkable constraints, training split, or ``split = "test"`` for the
        evaluation variant), answered ``samples`` times. Never sees a judgement, a
        refinement or the checker.
    refiner: judges and refines, never sees the checker's results.
        Judging is constraint by constraint: for each constraint of the instruction the
        refiner sees the instruction, the response and that one constraint in words, and
        answers Yes or No first (``repeats`` times; the majority of the verdicts that
        parse is the judgement, a tie is none). A response is *judged good* when every
        constraint's judgement is Yes.
        Refining: for a response not judged good, the refiner sees the instruction, the
        response and the constraints not judged met, and rewrites the response "changing
        as little as possible" (``width`` rewrites per node).
        The search is breadth-first: the actor's reply is the root; level ``d`` holds the
        rewrites of level ``d - 1``'s nodes (``width`` each); every node is judged; the
        search stops at the first level holding a rewrite judged good (and different from
        the original), or after ``depth`` levels. An empty rewrite fails unjudged. Of a level's rewrites judged good, the
        one closest to the original (word edit distance, then order) is the refinement.

Pairs and rewards (per turn, in [0, 1]):
    Actor: the pair (refinement chosen, original rejected) to the actor's own prompt, a
        minimal-edit pair; its word-level edit distance is logged
        (``outcome["trees"][k]["edit_distance"]``, monitor ``tree_refine/edit_distance``).
        The arena gives the refinement as the target of the actor's turn
        (:meth:`TreeRefine.reference_reply`); update ``dpo_target`` trains on it.
        ``actor_judged`` (default): share of the constraints the refiner judged met in the
        original (label-free); ``actor_truth``: share the checker says it meets
        (measurement only).
    Refiner: ``refiner_label`` (default; update ``dpo``, best over worst per ask):
        a judgement turn gets 1 when its verdict agrees with the majority of its ask, else
        0 (no score when the ask has no majority): judgement pairs (agreeing over
        disagreeing verdict on the same question); a rewrite turn gets 1 when judged good,
        else 0: refinement pairs (a sibling judged good over one that failed, same parent).
        ``refiner_truth`` (measurement only): a judgement turn 1 when its verdict equals
        the checker's, a rewrite turn the checker's share of constraints met.

Monitors: ``tree_refine/success_rate`` (originals not judged good whose search found a
refinement), ``tree_refine/edit_distance`` (mean word edit distance of the pairs),
``tree_refine/truth_gain`` (checker satisfaction of the refinement minus the original's:
whether the pairs really point the right way), ``refiner/judgement_accuracy`` (majority
judgements that agree with the checker), ``actor_satisfaction``. Evaluation: the variant
on the family's held-out split with one sample, no refinement and one judgement per
constraint, greedy: ``eval/actor_accuracy`` (every constraint met), ``eval/actor_satisfaction``
and ``eval/refiner/judgement_accuracy``, so both trained seats are measured.

Paper: Cheng et al., "SPaR: Self-Play with Tree-Search Refinement to Improve
Instruction-Following in Large Language Models" (2024). An actor answers; a refiner
(initialised from the same model) judges the answer and, when it fails, refines it by a
tree search (breadth- or depth-first) until a refinement is judged correct; the actor is
trained by DPO on (refinement, original): pairs that differ little, so the preference
signal sits on what made the answer follow the instruction rather than on unrelated
variation; the refiner is trained on its own judgement and refinement data (judgements
that agree with the majority over those that do not, successful over failed
refinements), and the loop iterates, M_t+1 from M_t (the recipe's ``reference =
"iterate"``).

Departures (each also in ``docs/arenas.md``):
    - No seed data: the paper first trains the refiner (RFT) on judgements and
      refinements labelled by a strong model; here both seats start from the base.
    - Instructions come from the ``instructions`` family (programmatic constraints), not
      the paper's LLM-written complex instructions; its checker is measurement only.
    - Judging is constraint by constraint with a Yes/No verdict and a majority over
      ``repeats``, not one holistic judgement with an explanation; a refinement names the
      constraints not judged met.
    - Among a level's successful rewrites the one with the smallest word edit distance
      to the original is kept (the paper keeps the first found); a rewrite equal to the
      original is never a refinement.

Versions: v1, first version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sparring.agents.parsers import ParseError
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.instructions import (
    InstructionFamily,
    constraint_results,
    describe,
    item_key,
    parse_reply,
    responder_role,
    satisfaction,
)
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.items import SplitItems
from sparring.arenas.match import Match, Reply
from sparring.arenas.tasks import Item, TaskError, difficulty_range, get_family
from sparring.arenas.transcript import Transcript, Turn
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.judge_prompts import parse_verdict
from sparring.rewards.measurements import edit_distance
from sparring.rewards.metrics import Metric, metric

REFINER_PROMPT = ("You are a careful refiner: you judge whether a response meets a constraint of an instruction, "
                  "and you rewrite responses that miss constraints with as few changes as possible. Follow the "
                  "requested output format exactly.")
REFINER_EXAMPLE = "Yes. The response meets the constraint."
"""A refiner reply that reads as a verdict and as a rewrite (the conformance check drives the arena with it)."""


def judge_prompt(instruction: str, response: str, constraint: dict[str, Any]) -> str:
    """The refiner's question about one constraint; its first word is the verdict."""
    return (f"Instruction: {instruction}\n<response>{response}</response>\n\nConstraint: {describe(constraint)}.\n"
            "Does the response meet this constraint? Begin your reply with Yes or No, then give one sentence of "
            "reason.")


def refine_prompt(instruction: str, response: str, missed: Sequence[dict[str, Any]]) -> str:
    """The refiner's rewrite request, naming the constraints not judged met."""
    named = "; ".join(describe(c) for c in missed)
    return (f"Instruction: {instruction}\n<response>{response}</response>\n\nThe response does not meet these "
            f"constraints: {named}. Rewrite the response so that it meets every constraint of the instruction, "
            "changing as little as possible. Reply with the rewritten response only.")


def majority(verdicts: Sequence[bool | None]) -> bool | None:
    """The majority of the verdicts that parsed (``None``: a tie, or none parsed)."""
    yes, no = sum(v is True for v in verdicts), sum(v is False for v in verdicts)
    return None if yes == no else yes > no


def missed(node: dict[str, Any], constraints: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The constraints a node was not judged to meet (all of them for an unjudged node)."""
    judged = node["judgements"] or [{"majority": None}] * len(constraints)
    return [c for c, j in zip(constraints, judged, strict=True) if j["majority"] is not True]


def word_distance(a: str, b: str) -> int:
    """Word-level Levenshtein distance between two texts (split on whitespace)."""
    return edit_distance(a.split(), b.split())


def _verdict(reply: Reply) -> bool | None:
    try:
        return parse_verdict(reply.text)
    except ParseError:
        return None


# -- rewards and monitors: read from the trees the outcome records -----------------------------

def _trees(transcript: Transcript) -> list[dict[str, Any]] | None:
    trees = (transcript.outcome or {}).get("trees")
    return trees if isinstance(trees, list) else None


def _turn_index(transcript: Transcript) -> dict[tuple[int, int], int]:
    return {(u.ask, u.sample): u.index for u in transcript.turns}


def _judgements(tree: dict[str, Any]) -> list[tuple[dict[str, Any], int, dict[str, Any]]]:
    """(node, constraint index, judgement) for every judged constraint of every node."""
    return [(node, i, j) for node in tree["nodes"] for i, j in enumerate(node["judgements"])]


def refinement_of(transcript: Transcript, turn: Turn) -> str | None:
    """The refinement the search found for an actor turn's reply, if any."""
    if turn.role != "actor":
        return None
    for tree in _trees(transcript) or []:
        if (tree["original_ask"], tree["original_sample"]) == (turn.ask, turn.sample):
            return tree["refined_text"]
    return None


@reward("actor_judged", bounds=(0.0, 1.0))
def actor_judged(transcript: Transcript) -> list[Score] | None:
    """Share of constraints the refiner judged met in each actor reply."""
    trees, index = _trees(transcript), _turn_index(transcript)
    if trees is None:
        return None
    out = []
    for tree in trees:
        judged = tree["nodes"][0]["judgements"]
        met = sum(j["majority"] is True for j in judged)
        value = met / len(judged) if judged else 0.0
        out.append(Score("actor", value, f"refiner: {met} of {len(judged)} constraint(s) met",
                         turn=index[(tree["original_ask"], tree["original_sample"])]))
    return out


@reward("actor_truth", bounds=(0.0, 1.0))
def actor_truth(transcript: Transcript) -> list[Score] | None:
    """The checker's share of constraints met by each actor reply (measurement only)."""
    trees, index = _trees(transcript), _turn_index(transcript)
    if trees is None:
        return None
    return [Score("actor", float(t["truth_scores"][0]), f"checker: {t['truth_scores'][0]:.2f}",
                  turn=index[(t["original_ask"], t["original_sample"])]) for t in trees]


@reward("refiner_label", bounds=(0.0, 1.0))
def refiner_label(transcript: Transcript) -> list[Score] | None:
    """Verdicts: 1 when they agree with their ask's majority (none on a tie); rewrites: 1 when judged good."""
    trees, index = _trees(transcript), _turn_index(transcript)
    if trees is None:
        return None
    out = []
    for tree in trees:
        for _, _, j in _judgements(tree):
            if j["majority"] is not None:
                out += [Score("refiner", float(v == j["majority"]), f"verdict {v} vs majority {j['majority']}",
                              turn=index[(j["ask"], k)]) for k, v in enumerate(j["verdicts"])]
        out += [Score("refiner", float(n["good"]), "rewrite judged good" if n["good"] else "rewrite not judged good",
                      turn=index[(n["ask"], n["sample"])]) for n in tree["nodes"][1:]]
    return out


@reward("refiner_truth", bounds=(0.0, 1.0))
def refiner_truth(transcript: Transcript) -> list[Score] | None:
    """Verdicts: 1 when they equal the checker's; rewrites: the checker's share met (measurement only)."""
    trees, index = _trees(transcript), _turn_index(transcript)
    if trees is None:
        return None
    out = []
    for tree in trees:
        for node, i, j in _judgements(tree):
            out += [Score("refiner", float(v == node["checked"][i]), f"verdict {v} vs checker {node['checked'][i]}",
                          turn=index[(j["ask"], k)]) for k, v in enumerate(j["verdicts"])]
        for n in tree["nodes"][1:]:
            met = sum(n["checked"]) / len(n["checked"]) if n["checked"] else 0.0
            out.append(Score("refiner", met, f"checker: {met:.2f}", turn=index[(n["ask"], n["sample"])]))
    return out


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@metric("tree_refine/success_rate", per_match=True)
def success_rate(transcript: Transcript) -> float | None:
    """Share of the replies not judged good whose search found a refinement."""
    failing = [t for t in _trees(transcript) or [] if not t["original_good"]]
    return _mean([float(t["refined"] is not None) for t in failing])


@metric("tree_refine/edit_distance", per_match=True)
def pair_edit_distance(transcript: Transcript) -> float | None:
    """Mean word edit distance between a refinement and its original (the pairs)."""
    return _mean([float(t["edit_distance"]) for t in _trees(transcript) or [] if t["refined"] is not None])


@metric("tree_refine/truth_gain", per_match=True)
def truth_gain(transcript: Transcript) -> float | None:
    """Mean checker satisfaction of the refinements minus their originals'."""
    return _mean([t["truth_scores"][1] - t["truth_scores"][0] for t in _trees(transcript) or []
                  if t["refined"] is not None])


@metric("refiner/judgement_accuracy", per_match=True)
def judgement_accuracy(transcript: Transcript) -> float | None:
    """Share of majority judgements that agree with the checker (ties left out)."""
    return _mean([float(j["majority"] == node["checked"][i]) for t in _trees(transcript) or []
                  for node, i, j in _judgements(t) if j["majority"] is not None])


@metric("actor_satisfaction", per_match=True)
def actor_satisfaction(transcript: Transcript) -> float | None:
    """The checker's mean share of constraints met by the actor's replies."""
    return _mean([float(t["truth_scores"][0]) for t in _trees(transcript) or []])


@metric("actor_accuracy", per_match=True)
def actor_accuracy(transcript: Transcript) -> float | None:
    """Share of the actor's replies that meet every constraint (the checker)."""
    return _mean([float(all(t["nodes"][0]["checked"])) for t in _trees(transcript) or []])


TREE_REFINE_REWARDS: tuple[Reward, ...] = (actor_judged, actor_truth, refiner_label, refiner_truth)
MONITORS: tuple[Metric, ...] = (success_rate, pair_edit_distance, truth_gain, judgement_accuracy, actor_satisfaction)
EVAL_METRICS: tuple[Metric, ...] = (actor_accuracy, actor_satisfaction, judgement_accuracy)


# -- the arena ---------------------------------------------------------------------------------

def refiner_role() -> Role:
    """The refiner seat: judges one constraint at a time, rewrites failing responses."""
    return Role(name="refiner", system_prompt=REFINER_PROMPT, parser=parse_reply,
                sampling=SamplingParams(max_new_tokens=96, temperature=0.8))


class TreeRefine(SplitItems, Arena):
    """The actor answers; the refiner judges each constraint and refines failures by a
    breadth-first tree search; (refinement, original) is the actor's pair.

    Args:
        family: Task family with constraint lists as truths (``instructions``).
        difficulty: A difficulty (number of constraints) or an inclusive ``[low, high]`` range.
        samples: Actor replies per prompt (one tree each).
        width: Rewrites per refined node.
        depth: Most levels of rewrites below the original (0: judge only, no refinement).
        repeats: Verdicts per constraint of each node; their majority is the judgement.
        split: ``train`` (training) or ``test`` (the evaluation variant).
    """

    id = "sparring/tree-refine-v1"
    short_name = "tree-refine"
    roles = ("actor", "refiner")
    reward_bounds = (0.0, 1.0)
    max_turns = 1024
    default_rewards = {"actor": "actor_judged", "refiner": "refiner_label"}
    examples = {"refiner": [REFINER_EXAMPLE]}

    def __init__(self, family: str = "instructions", difficulty: int | Sequence[int] = (1, 2), samples: int = 2,
                 width: int = 2, depth: int = 2, repeats: int = 3, split: str = "train") -> None:
        super().__init__()
        self.family = get_family(family)
        if not isinstance(self.family, InstructionFamily):
            raise TaskError(f"family {self.family.name!r} has no constraint lists to judge; tree-refine plays "
                            "family = \"instructions\"")
        self.difficulty = difficulty_range(difficulty, self.family)
        for name, value, low, high in (("samples", samples, 1, 8), ("width", width, 1, 4), ("depth", depth, 0, 4),
                                       ("repeats", repeats, 1, 5)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise TaskError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        nodes = sum(width ** d for d in range(depth + 1))
        worst = samples * (1 + nodes * self.difficulty[1] * repeats + nodes - 1)
        if worst > self.max_turns:
            raise TaskError(f"a match could ask for {worst} replies (samples * tree nodes * constraints * repeats), "
                            f"more than {self.max_turns}; lower width, depth, repeats or samples")
        self.set_split(split)
        self.samples, self.width, self.depth, self.repeats = samples, width, depth, repeats

    def default_roles(self) -> dict[str, Role]:
        """The actor (the responder's role) and the refiner."""
        return {"actor": responder_role(self.family, "actor"), "refiner": refiner_role()}

    def rewards(self) -> Sequence[Reward]:
        """Judged and checked scores of the actor; the refiner's labels and checked scores."""
        return TREE_REFINE_REWARDS

    def monitors(self) -> Sequence[Metric]:
        """Search success, edit distance, truth gain of the pairs, judgement accuracy."""
        return MONITORS

    def evaluation(self) -> Evaluation:
        """Held-out split, one reply judged once per constraint, no refinement, greedy."""
        family = str(self.kwargs.get("family", self.family.name))
        variant = TreeRefine(family=family, difficulty=list(self.difficulty), samples=1, width=1, depth=0,
                             repeats=1, split="test")
        return Evaluation(arena=variant, metrics=EVAL_METRICS, item=item_key)

    def reference_reply(self, transcript: Any, turn: Any) -> str | None:
        """The refinement of an actor turn's reply (``None``: no refinement, or not the actor)."""
        return refinement_of(transcript, turn)

    async def _judge(self, match: Match, item: Item, node: dict[str, Any]) -> None:
        asks = [match.ask("refiner", judge_prompt(item.prompt, node["text"], c), n=self.repeats) for c in item.answer]
        judged = await match.gather(asks)
        node["judgements"] = [{"ask": replies[0].ask, "verdicts": [_verdict(r) for r in replies]} for replies in judged]
        for j in node["judgements"]:
            j["majority"] = majority(j["verdicts"])
        node["good"] = all(j["majority"] is True for j in node["judgements"])

    async def _node(self, match: Match, item: Item, reply: Reply, parent: int | None, depth: int,
                    index: int) -> dict[str, Any]:
        text = reply.text.strip()
        node = {"id": index, "parent": parent, "depth": depth, "ask": reply.ask, "sample": reply.sample, "text": text,
                "checked": constraint_results(text, item.answer), "judgements": [], "good": False}
        if reply.ok or parent is None:  # an empty rewrite is a failed one, not judged; every answer is
            await self._judge(match, item, node)
        return node

    async def _search(self, match: Match, item: Item, original: Reply) -> dict[str, Any]:
        root = await self._node(match, item, original, None, 0, 0)
        nodes, level, refined = [root], [root], None
        if not root["good"]:
            for depth in range(1, self.depth + 1):
                asks = [match.ask("refiner", refine_prompt(item.prompt, node["text"], missed(node, item.answer)),
                                  n=self.width) for node in level]
                children = [(node["id"], reply) for node, replies in zip(level, await match.gather(asks), strict=True)
                            for reply in replies]
                level = await match.gather(self._node(match, item, reply, parent, depth, len(nodes) + k)
                                           for k, (parent, reply) in enumerate(children))
                nodes += level
                good = [n for n in level if n["good"] and n["text"] != root["text"]]
                if good:
                    refined = min(good, key=lambda n: (word_distance(root["text"], n["text"]), n["id"]))
                    break
        return {"nodes": nodes, "original_ask": original.ask, "original_sample": original.sample,
                "original_good": root["good"], "refined": None if refined is None else refined["id"],
                "refined_text": None if refined is None else refined["text"],
                "edit_distance": None if refined is None else word_distance(root["text"], refined["text"]),
                "truth_scores": [satisfaction(root["text"], item.answer),
                                 None if refined is None else satisfaction(refined["text"], item.answer)]}

    async def play(self, match: Match) -> Outcome:
        """``samples`` actor replies, a judged breadth-first refinement tree under each."""
        item = self.draw_item(match)
        originals: list[Reply] = await match.ask("actor", item.prompt, n=self.samples)
        trees = await match.gather(self._search(match, item, r) for r in originals)
        values = {"family": self.family.name, "difficulty": item.difficulty, "split": self.split,
                  "prompt": item.prompt, "item_key": item.key, "truth": item.answer, "trees": trees}
        found = sum(t["refined"] is not None for t in trees)
        failing = sum(not t["original_good"] for t in trees)
        return Outcome(values, f"{item.prompt[:60]}: {failing} of {len(trees)} judged failing, {found} refined")
