"""Self-rewarding language models: one model answers and judges its answers (``sparring/respond-judge-v1``).

Seats and what each sees (a recipe binds ``responder`` and ``judge`` to the same adapter,
so one model answers and judges; only the responder's data trains it):
    responder: one prompt of the task family's training split (default ``instructions``:
        open writing tasks with checkable constraints), drawn with the match seed at a
        difficulty in the given range; answers ``samples`` times. Never sees a judgement
        or the checker.
    judge: the prompt and the responder's replies, never the checker's results. Kinds of
        judgement (``judges``, the first one is the primary):
        ``pointwise``: the additive 5-point rubric (``Score: 0-5``) per reply, asked
        ``repeats`` times and averaged.
        ``pairwise``: every ordered pair of replies once (``Winner: A | B | tie``), so each
        unordered pair is judged in both orders and the two verdicts averaged.
        ``verdict``: ``Yes``/``No`` first, per reply, ``repeats`` times; the score is P(True)
        from the verdict token's log-prob, or none when the verdict does not open the reply
        (``**Yes``: the token it came from is unknown; see :mod:`sparring.rewards.confidence`).
        ``thinking``: the pairwise judge thinks first, verdict last (J1's format, so a judge
        trained by ``judge-training`` is asked as it was trained; bind the judge seat to
        that adapter with ``adapters.<name>.init_from``).
        Self-reference judging (``self_reference``): the judge first writes its own answer
        in the same reply, then judges against it. ``True`` is the paper's form: on the
        pairwise judge, each pair in both orders; ``"pointwise"`` is a cheaper variant
        under its own name, one reply at a time on the rubric.
    anchor (optional, ``anchor_samples > 0``): the initial model answering the same prompt
        (bind it to the base, or to a frozen adapter with ``init_from``); its replies are
        judged by the judge like the responder's (Temporal SR's anchored rejections).
        With ``dpo_temporal`` the trainer also plays each training seed again with the
        responder on the future model (matches ``future-i<k>-s<seed>``, the same arena:
        the anchor answers and the current judge judges as in the training match).
    anchor_judge (optional, ``anchor_judge=True``): a frozen judge (the previous iterate
        with ``"policy@previous"``, else the base or a snapshot) judging the same replies
        with the primary judge's method (same prompts, same repeats): the previous
        ranking CREAM compares with.

Rewards (per turn, in [0, 1]; none uses the checker except ``truth_score``):
    ``judge_score``: the primary judge's score of a reply (responder and anchor turns):
        pointwise ``mean(points) / 5``; pairwise the reply's win rate
        ``w_i = mean_{j != i} W[i][j]`` with ``W[i][j] = (v(i first) + v(j first)) / 2``
        (1 win, 1/2 tie, 0 loss), over all judged replies; verdict ``mean P(True)``.
    ``judge_pointwise``, ``judge_pairwise``, ``judge_verdict``: each kind's score (when asked).
    ``anchor_judge_score``: the anchor judge's score of a reply, by the primary judge's
        method (same formula as ``judge_score``).
    ``truth_score``: the checker's score (share of constraints met; 0/1 for answer
        families); measurement only.

Updates (the algorithm table, responder seat): ``dpo`` (best over worst by
``judge_score``: Self-Rewarding), ``soft_dpo``, ``dpo_cream`` (best/worst labelled by the
consistency rate of the judge's and the anchor judge's rankings, CREAM; a reply the
anchor judge left unscored ranks below the ones it scored, see
:func:`~sparring.rewards.builders.consistency_pairs`), ``dpo_temporal`` (Temporal SR:
a look-ahead update on the anchored pairs, responder's best over the anchor's worst,
gives the future model; it answers the same prompts again and its best reply, by the
current judge, is the chosen over the anchor's worst; the look-ahead is thrown away and
the real update trains on those pairs), ``dpo_temporal_anchored`` (the anchored
rejection alone: responder's best over the anchor's worst, no look-ahead), ``dpo_scir``
(pairs every internal judge in ``judges`` agrees on). ``judged_pairs()`` tells them which rewards and
seats to read.

Monitors: ``judge/self_preference_bias`` (DBG: mean primary-judge score of the responder's
own replies minus the gold judgement of them on the judge's own scale, ``gold_scores`` in
the outcome: a verdict judge's P(True) against gold yes = every constraint met; a pairwise
judge's win rate against the checker's win rate; absent for the rubric judge, whose
5-point scale has no gold judgement here), ``judge/position_consistency`` (pairwise verdicts that
survive the order swap), ``judge/truth_agreement`` (the judge's best reply is among the
checker's best), ``truth_score_mean``. Evaluation: ``response-eval`` on the family's
held-out split, greedy (``responder_accuracy``, ``responder_satisfaction``).

Papers: Yuan et al., "Self-Rewarding Language Models" (2024): the model samples k answers,
scores each with its additive-rubric judge prompt (averaged over 3 samples), and trains
M_t+1 from M_t by DPO on the highest- over the lowest-scored, with M_t as the reference
(recipes: ``roles.responder.reference = "iterate"``; the updates' default is the base).
CREAM (Wang et al. 2024) labels each pair with the consistency rate between the current
and the previous iterate's rankings, both made by the same judging method (here the
``anchor_judge`` seat bound to ``"policy@previous"``, judging like the primary judge).
Temporal Self-Rewarding (Wang et al. 2025) anchors rejected replies to the initial model
(anchored rejection) and takes the chosen from a future model, the current one after a
look-ahead update on the anchored pairs (future-guided chosen). SCIR
(2025) trains on pairs its internal judges agree on. Self-reference judging (Shi et al.
2024): the judge answers the instruction itself, then compares two responses against
its answer, in both orders.

Departures (each also in ``docs/arenas.md``):
    - No seed instruction-following or EFT data: prompts come from a task family and the
      judge is untrained.
    - Temporal SR: the future model's look-ahead is one update of the run's own shape
      (``train.epochs`` x ``train.steps_per_epoch`` steps at ``train.lr``) on the
      anchored pairs, not a separate DPO run; its chosen is its best reply when that
      beats the anchor's worst (no fallback to the current model's best); the future
      play replays the whole match (the anchor answers again; only its responder replies
      are read). ``dpo_temporal_anchored`` (anchored rejection only) is a cheaper
      variant under its own name.
    - SCIR: ``dpo_scir`` keeps only the agreement filter (pairs every internal judge orders
      alike, strictly); the paper's consistency loss between its internal reward models
      (a penalty on their disagreement, training the judges too) is not included.
    - CREAM's soft label is computed over the replies the current judge scored; a reply the
      anchor judge could not score ranks below the ones it did (see
      :func:`~sparring.rewards.builders.consistency_pairs`).
    - P(True) is read only when the verdict opens the reply (a verdict after ``**`` has no
      P(True)), because a stored reply keeps token ids, not token texts.
    - ``self_reference = "pointwise"`` (the judge's own answer, then one reply on the
      rubric) is a cheaper variant under its own name, not the paper's method.
    - DBG is measured on the verdict and pairwise judges only: the checker gives gold
      yes/no and gold win rates, not gold rubric points.

Versions: v1, first version (``thinking`` added later; off by default, it leaves v1's play unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sparring.agents.roles import Role
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.instructions import (
    RESPONSE_EVAL_METRICS,
    ResponseEval,
    item_key,
    responder_role,
    truth_score,
)
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.judging import (
    JUDGE_EXAMPLE,
    JUDGE_KINDS,
    judge_pointwise,
    judge_role,
    judge_verdicts,
    round_robin,
    truth_agreement,
    truth_score_mean,
)
from sparring.arenas.match import Match
from sparring.arenas.tasks import TaskError, difficulty_range, get_family
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.judge_bias import (
    gold_verdicts,
    gold_win_rates,
    position_consistency_metric,
    self_preference_metric,
)
from sparring.rewards.judge_pairs import JudgedPairs, win_rates_from_matrix
from sparring.rewards.metrics import Metric

# -- rewards -----------------------------------------------------------------------------------

def _per_turn(transcript: Transcript, key: str, seats: Sequence[str], what: str) -> list[Score] | None:
    outcome = transcript.outcome or {}
    if not isinstance(outcome.get(key), dict):
        return None
    out = []
    for seat in seats:
        turns = [turn.index for turn in transcript.turns
                 if turn.role == seat and turn.ask == outcome.get("asks", {}).get(seat)]
        for index, value in zip(turns, outcome[key].get(seat) or [], strict=False):
            if value is not None:
                out.append(Score(seat, float(value), f"{what}: {value:.3f}", turn=index))
    return out or None


@reward("judge_score", bounds=(0.0, 1.0))
def judge_score(transcript: Transcript) -> list[Score] | None:
    """The primary judge's score of each responder and anchor reply (see the module docs)."""
    return _per_turn(transcript, "primary", ("responder", "anchor"), "primary judge")


def _kind_reward(kind: str) -> Reward:
    def score(transcript: Transcript) -> list[Score] | None:
        return _per_turn(transcript, kind, ("responder", "anchor"), f"{kind} judge")

    score.__doc__ = f"The {kind} judge's score of each responder and anchor reply, in [0, 1]."
    return reward(f"judge_{kind}", bounds=(0.0, 1.0))(score)


KIND_REWARDS = {kind: _kind_reward(kind) for kind in JUDGE_KINDS}


@reward("anchor_judge_score", bounds=(0.0, 1.0))
def anchor_judge_score(transcript: Transcript) -> list[Score] | None:
    """The anchor judge's score of each responder and anchor reply, by the primary judge's method."""
    return _per_turn(transcript, "anchor_judged", ("responder", "anchor"), "anchor judge")


@reward("truth_score", bounds=(0.0, 1.0))
def truth_score_reward(transcript: Transcript) -> list[Score] | None:
    """The checker's score of each responder and anchor reply (measurement only)."""
    return _per_turn(transcript, "truth_scores_by_seat", ("responder", "anchor"), "checker")


RESPOND_JUDGE_REWARDS: tuple[Reward, ...] = (judge_score, *KIND_REWARDS.values(), anchor_judge_score,
                                             truth_score_reward)


RESPOND_JUDGE_MONITORS: tuple[Metric, ...] = (self_preference_metric(), position_consistency_metric(),
                                              truth_agreement("judge_scores"), truth_score_mean)


SELF_REFERENCE = {False: None, True: "pairwise", "pairwise": "pairwise", "pointwise": "pointwise"}
"""``self_reference`` values and the judge kind they apply to (``True`` is the paper's pairwise form)."""


class RespondJudge(Arena):
    """One model answers a prompt ``samples`` times and judges its own answers.

    Args:
        family: Task family (name, ``.jsonl`` path or ``module:attribute``).
        difficulty: A difficulty or an inclusive ``[low, high]`` range drawn per match.
        samples: Responder replies per prompt (k).
        judges: Kinds of judgement, the first being the primary (``judge_score``):
            ``pointwise``, ``pairwise``, ``verdict``.
        repeats: Pointwise and verdict judgements per reply, averaged.
        self_reference: Self-reference judging, the judge writing its own answer before it
            judges: ``True`` (or ``"pairwise"``) is the paper's form, pairs of replies in
            both orders, and needs the pairwise judge; ``"pointwise"`` is the cheaper
            single-reply variant on the rubric judge; ``False``: off.
        anchor_samples: Replies of the ``anchor`` seat per prompt (0: the seat does not play).
        anchor_judge: Whether the ``anchor_judge`` seat judges the same replies with the
            primary judge's method (CREAM's previous-iterate judgement).
        margin: Smallest win-rate gap of a DNO pair (offered to the ``dno`` update).
        thinking: The pairwise judge thinks first and gives its verdict last (J1's format,
            :data:`~sparring.rewards.judge_prompts.THINKING`): the prompt a judge trained by
            ``judge-training`` was trained on. Needs the pairwise judge; exclusive with
            ``self_reference`` on it.
    """

    id = "sparring/respond-judge-v1"
    short_name = "respond-judge"
    roles = ("responder", "judge", "anchor", "anchor_judge")
    reward_bounds = (0.0, 1.0)
    max_turns = 512
    default_rewards = {"responder": "judge_score"}

    def __init__(self, family: str = "instructions", difficulty: int | Sequence[int] = (1, 2), samples: int = 4,
                 judges: Sequence[str] = ("pointwise",), repeats: int = 3, self_reference: bool | str = False,
                 anchor_samples: int = 0, anchor_judge: bool = False, margin: float = 0.5,
                 thinking: bool = False) -> None:
        super().__init__()
        self.family = get_family(family)
        self.difficulty = difficulty_range(difficulty, self.family)
        for name, value, low, high in (("samples", samples, 2, 8), ("repeats", repeats, 1, 5),
                                       ("anchor_samples", anchor_samples, 0, 8)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise TaskError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        judges = [judges] if isinstance(judges, str) else list(judges)
        if not judges or len(set(judges)) != len(judges) or any(k not in JUDGE_KINDS for k in judges):
            raise TaskError(f"judges must be distinct kinds from {', '.join(JUDGE_KINDS)}, got {judges!r}")
        if not 0 < margin <= 1:
            raise TaskError(f"margin must be in (0, 1], got {margin!r}")
        if not isinstance(self_reference, bool | str) or self_reference not in SELF_REFERENCE:
            raise TaskError(f"self_reference must be true (the paper's pairwise form), \"pairwise\", \"pointwise\" "
                            f"(the single-reply variant) or false, got {self_reference!r}")
        kind = SELF_REFERENCE[self_reference]
        if kind is not None and kind not in judges:
            form = "the paper's pairwise form" if kind == "pairwise" else "the single-reply variant"
            other = ('; self_reference = "pointwise" is the single-reply variant on the rubric judge'
                     if kind == "pairwise" else "")
            raise TaskError(f"self_reference = {self_reference!r} ({form}) applies to the {kind} judge; add "
                            f"\"{kind}\" to judges (got {judges!r}){other}")
        if not isinstance(thinking, bool) or (thinking and "pairwise" not in judges):
            raise TaskError(f"thinking = {thinking!r} (J1's thinking-then-verdict format) applies to the pairwise judge; "
                            f"add \"pairwise\" to judges (got {judges!r}) or set thinking = false")
        if thinking and kind == "pairwise":
            raise TaskError("thinking and self_reference = true both shape the pairwise judge's reply; pick one "
                            "(J1's thoughts already hold the judge's own answer)")
        self.samples, self.repeats, self.anchor_samples = samples, repeats, anchor_samples
        self.judges = judges
        self.self_reference = kind
        self.thinking = thinking
        self.anchor_judge = bool(anchor_judge)
        self.margin = margin
        self.examples = {"judge": [JUDGE_EXAMPLE], "anchor_judge": [JUDGE_EXAMPLE]}  # type: ignore[misc]

    def default_roles(self) -> dict[str, Role]:
        """Responder and anchor answer alike; judge and anchor judge judge alike (the primary kind)."""
        return {"responder": responder_role(self.family), "anchor": responder_role(self.family, "anchor"),
                "judge": judge_role(self.judges[0]), "anchor_judge": judge_role(self.judges[0], "anchor_judge")}

    def rewards(self) -> Sequence[Reward]:
        """Judge scores (primary, per kind, anchor judge) and the checker's score."""
        return RESPOND_JUDGE_REWARDS

    def evaluation(self) -> Evaluation:
        """The family's held-out split, greedy: responder accuracy and satisfaction."""
        family = str(self.kwargs.get("family", self.family.name))
        return Evaluation(arena=ResponseEval(family=family, difficulty=list(self.difficulty)),
                          metrics=RESPONSE_EVAL_METRICS, item=item_key)

    def monitors(self) -> Sequence[Metric]:
        """Self-preference bias, position consistency, judge/checker agreement, checker mean."""
        return RESPOND_JUDGE_MONITORS

    def judged_pairs(self) -> JudgedPairs:
        """What the judged pair builders read (CREAM, Temporal SR, SCIR, DNO)."""
        return JudgedPairs(previous_reward="anchor_judge_score" if self.anchor_judge else None,
                           anchor_seat="anchor" if self.anchor_samples else None,
                           agreeing_rewards=tuple(f"judge_{k}" for k in self.judges), margin=self.margin)

    async def _judge(self, match: Match, kind: str, prompt: str, texts: list[str],
                     seat: str = "judge") -> dict[str, Any]:
        reference = self.self_reference == kind
        if kind == "pointwise":
            scores, raw = await judge_pointwise(match, seat, prompt, texts, self.repeats, reference)
            return {"scores": scores, "raw": raw}
        if kind == "verdict":
            scores, raw = await judge_verdicts(match, seat, prompt, texts, self.repeats)
            return {"scores": scores, "raw": raw}
        matrix, verdicts = await round_robin(match, seat, prompt, texts, reference, self.thinking)
        return {"scores": win_rates_from_matrix(matrix), "win_matrix": matrix, "verdicts": verdicts}

    async def play(self, match: Match) -> Outcome:
        """k replies (and the anchor's), each kind of judgement, the checker logged."""
        low, high = self.difficulty
        item = self.family.sample(match.rng, match.rng.randint(low, high), "train")
        asks = [match.ask("responder", item.prompt, n=self.samples)]
        if self.anchor_samples:
            asks.append(match.ask("anchor", item.prompt, n=self.anchor_samples))
        answered = await match.gather(asks)
        own, anchor = answered[0], (answered[1] if self.anchor_samples else [])
        texts = [r.text for r in own + anchor]
        kinds = [self._judge(match, kind, item.prompt, texts) for kind in self.judges]
        if self.anchor_judge:  # CREAM: the same judgement of the same replies, by the anchor judge
            kinds.append(self._judge(match, self.judges[0], item.prompt, texts, "anchor_judge"))
        judged = await match.gather(kinds)
        judgements, anchored = judged[:len(self.judges)], (judged[-1] if self.anchor_judge else None)
        k = len(own)
        truth = [truth_score(self.family, r.text if r.ok else None, r.parsed if r.ok else None, item.answer)
                 for r in own + anchor]
        gold = {"verdict": gold_verdicts, "pairwise": gold_win_rates}.get(self.judges[0])

        def by_seat(values: list[Any]) -> dict[str, list[Any]]:
            return {"responder": values[:k], "anchor": values[k:]}

        by_kind = dict(zip(self.judges, judgements, strict=True))
        values: dict[str, Any] = {
            "family": self.family.name, "difficulty": item.difficulty, "prompt": item.prompt, "item_key": item.key,
            "truth": item.answer, "asks": {"responder": own[0].ask, **({"anchor": anchor[0].ask} if anchor else {})},
            "answers": [r.text for r in own], "anchor_answers": [r.text for r in anchor],
            "answers_correct": [self.family.check(r.parsed if r.ok else None, item.answer) for r in own],
            "truth_scores": truth[:k], "truth_scores_by_seat": by_seat(truth),
            "gold_scores": gold(truth)[:k] if gold else None,
            "judgements": by_kind, "primary": by_seat(judgements[0]["scores"]),
            **{kind: by_seat(j["scores"]) for kind, j in by_kind.items()},
            "judge_scores": judgements[0]["scores"][:k],
            "pairwise_verdicts": by_kind["pairwise"]["verdicts"] if "pairwise" in by_kind else [],
            "anchor_judged": by_seat(anchored["scores"]) if anchored is not None else None,
            **({"anchor_judgement": anchored} if anchored is not None else {}),
        }
        shown = ", ".join("-" if s is None else f"{s:.2f}" for s in values["judge_scores"])
        return Outcome(values, f"{item.prompt[:60]}: judge [{shown}], checker {sum(truth[:k]) / k:.2f}")
