"""Measurements over stored transcripts: calibration, consistency, diversity, entropy, self-correction.

Each measurement is a pure function of plain values (tested against hand-computed
numbers) and a :class:`~sparring.rewards.metrics.Metric` factory that reads it off
transcripts, so it can be an arena's evaluation metric or monitor, or be recomputed on a
finished run with ``sparring rescore RUN --metric NAME``.

Formulas:
    **ECE** (expected calibration error, Guo et al. 2017) with ``B`` equal-width bins
    ``[k/B, (k+1)/B)`` (the last one includes 1): ``sum_b n_b / N * |acc_b - conf_b|``,
    where ``acc_b`` is the share of correct items in bin ``b`` and ``conf_b`` their mean
    confidence. **Brier** score: ``mean((c - y)^2)`` with ``y`` 1 for correct.
    **Kendall tau-b** between two scorings of the same items:
    ``(C - D) / sqrt((P - T_x) (P - T_y))`` over the ``P = n(n-1)/2`` pairs, ``C``/``D``
    concordant/discordant pairs, ``T_x``/``T_y`` pairs tied in one scoring; undefined
    (``None``) when either scoring is constant.
    **distinct-n**: distinct word n-grams / all word n-grams of a set of replies.
    **Edit diversity**: mean over pairs of replies to the same prompt of the word-level
    Levenshtein distance divided by the longer reply's length in words.
    **Jaccard diversity**: mean over those pairs of ``1 - |A ∩ B| / |A ∪ B|`` of their
    word sets. **Token entropy** (proxy): ``-mean(log p)`` of the sampled tokens, an
    unbiased estimate of the sampling distribution's per-token entropy because the
    recorded log-probs are under that distribution (greedy turns record raw-logit
    log-probs, so for them it is the model's surprise at its own argmax, not an entropy).
    **Self-correction decomposition** (SCoRe's transition counts): over (first answer
    right, second answer right) pairs, the four counts, accuracy at each attempt, their
    difference ``delta``, ``kept_rate = P(right₂ | right₁)`` (confidence: a right answer
    survives review) and ``fixed_rate = P(right₂ | wrong₁)`` (critique: a wrong one is
    repaired).

Named measurements (:func:`measurement`, what ``--metric`` accepts besides an arena's
own metrics): ``diversity``, ``entropy``, ``consistency/<reward>`` (Kendall tau of the
reward's per-item means between the first and last iteration present; item = the
outcome's ``item_key``, else the match seed) and ``calibration/<confidence reward>/<correct reward>``
(confidence in [0, 1] and correctness ``value >= 0.5`` paired by seat and turn).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sparring.rewards.metrics import Metric

if TYPE_CHECKING:
    from sparring.arenas.transcript import Transcript


# -- calibration ------------------------------------------------------------------------

def _checked(confidences: Sequence[float], correct: Sequence[bool]) -> list[tuple[float, bool]]:
    if len(confidences) != len(correct):
        raise ValueError(f"calibration needs one correctness per confidence, got {len(confidences)} and {len(correct)}")
    pairs = []
    for c, y in zip(confidences, correct, strict=True):
        c = float(c)
        if not 0.0 <= c <= 1.0:
            raise ValueError(f"a confidence must be a probability in [0, 1], got {c}")
        pairs.append((c, bool(y)))
    return pairs


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float | None:
    """ECE with ``bins`` equal-width bins (see the module docs); ``None`` without items."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    pairs = _checked(confidences, correct)
    if not pairs:
        return None
    members: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for c, y in pairs:
        members[min(int(c * bins), bins - 1)].append((c, y))
    total = 0.0
    for group in members.values():
        accuracy = sum(y for _, y in group) / len(group)
        confidence = sum(c for c, _ in group) / len(group)
        total += len(group) / len(pairs) * abs(accuracy - confidence)
    return total


def brier_score(confidences: Sequence[float], correct: Sequence[bool]) -> float | None:
    """Mean squared gap between confidence and correctness (0 best); ``None`` without items."""
    pairs = _checked(confidences, correct)
    return sum((c - float(y)) ** 2 for c, y in pairs) / len(pairs) if pairs else None


def reward_pairs(confidence: str, correct: str) -> Callable[[Transcript], list[tuple[float, bool]]]:
    """(confidence, correct) per scored turn: reward ``confidence``'s value and reward
    ``correct``'s value ``>= 0.5``, paired by seat and turn (match-level records by seat)."""
    def pairs(transcript: Transcript) -> list[tuple[float, bool]]:
        conf = {(r.role, r.turn): r.value for r in transcript.rewards if r.reward == confidence}
        right = {(r.role, r.turn): r.value >= 0.5 for r in transcript.rewards if r.reward == correct}
        return [(min(max(conf[k], 0.0), 1.0), right[k]) for k in conf if k in right]
    return pairs


def calibration_metric(samples: Callable[[Transcript], Iterable[tuple[float, bool]]], bins: int = 10,
                       name: str = "calibration") -> Metric:
    """A metric ``{name}/ece``, ``{name}/brier``, ``{name}/n`` over (confidence, correct) samples."""
    def compute(transcripts: Sequence[Transcript]) -> dict[str, float | None] | None:
        pairs = [p for t in transcripts for p in samples(t)]
        if not pairs:
            return None
        conf, right = [c for c, _ in pairs], [y for _, y in pairs]
        return {"ece": expected_calibration_error(conf, right, bins), "brier": brier_score(conf, right),
                "n": len(pairs)}
    return Metric(name, compute)


# -- consistency across iterations ------------------------------------------------------

def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b of two scorings of the same items (ties handled); ``None`` if undefined."""
    if len(x) != len(y):
        raise ValueError(f"kendall_tau needs two scorings of the same items, got {len(x)} and {len(y)} values")
    concordant = discordant = tied_x = tied_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0 and dy == 0:
            tied_x += 1
            tied_y += 1
        elif dx == 0:
            tied_x += 1
        elif dy == 0:
            tied_y += 1
        elif (dx > 0) == (dy > 0):
            concordant += 1
        else:
            discordant += 1
    pairs = len(x) * (len(x) - 1) // 2
    denominator = math.sqrt((pairs - tied_x) * (pairs - tied_y))
    return (concordant - discordant) / denominator if denominator else None


def default_item(transcript: Transcript) -> str:
    """What a match is about: the outcome's ``item_key``, else its seed."""
    key = (transcript.outcome or {}).get("item_key")
    return str(key) if key else f"seed {transcript.seed}"


def item_scores(transcripts: Iterable[Transcript], reward: str,
                item: Callable[[Transcript], str] = default_item) -> dict[int, dict[str, float]]:
    """Mean value of ``reward`` per item, per iteration: ``{iteration: {item: mean}}``."""
    values: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for transcript in transcripts:
        for r in transcript.rewards:
            if r.reward == reward:
                values[transcript.iteration][item(transcript)].append(r.value)
    return {it: {k: sum(v) / len(v) for k, v in items.items()} for it, items in values.items()}


def reward_consistency(transcripts: Iterable[Transcript], reward: str, first: int | None = None,
                       second: int | None = None, item: Callable[[Transcript], str] = default_item,
                       ) -> tuple[float | None, int]:
    """Kendall tau between two iterations' per-item means of ``reward``, and the item count.

    ``first``/``second`` default to the first and last iteration that scored any item.
    """
    scores = item_scores(transcripts, reward, item)
    if not scores:
        return None, 0
    a = min(scores) if first is None else first
    b = max(scores) if second is None else second
    common = sorted(set(scores.get(a, {})) & set(scores.get(b, {})))
    if a == b or len(common) < 2:
        return None, len(common)
    return kendall_tau([scores[a][k] for k in common], [scores[b][k] for k in common]), len(common)


def consistency_metric(reward: str, item: Callable[[Transcript], str] = default_item) -> Metric:
    """``consistency/<reward>/tau`` and ``/items`` between the first and last iteration present."""
    def compute(transcripts: Sequence[Transcript]) -> dict[str, float | None] | None:
        tau, n = reward_consistency(transcripts, reward, item=item)
        return {"tau": tau, "items": n} if n else None
    return Metric(f"consistency/{reward}", compute)


# -- diversity and entropy --------------------------------------------------------------

def distinct_n(texts: Sequence[str], n: int = 1) -> float | None:
    """Distinct word n-grams over all word n-grams of ``texts``; ``None`` when there are none."""
    grams = [tuple(words[i:i + n]) for words in (t.split() for t in texts) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def edit_distance(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Levenshtein distance between two sequences (insert, delete, substitute cost 1)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _pairs_mean(texts: Sequence[str], distance: Callable[[list[str], list[str]], float]) -> float | None:
    words = [t.split() for t in texts]
    values = [distance(a, b) for a, b in itertools.combinations(words, 2)]
    return sum(values) / len(values) if values else None


def edit_diversity(texts: Sequence[str]) -> float | None:
    """Mean normalised word-level edit distance over pairs (0: all equal, 1: nothing shared)."""
    return _pairs_mean(texts, lambda a, b: edit_distance(a, b) / max(len(a), len(b)) if a or b else 0.0)


def jaccard(a: str | Sequence[str], b: str | Sequence[str]) -> float:
    """Jaccard similarity of two word sets (a text is split on whitespace); 1 when both are empty.

    >>> jaccard("the cat sat", "the cat ran")
    0.5
    """
    sa = set(a.split() if isinstance(a, str) else a)
    sb = set(b.split() if isinstance(b, str) else b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def jaccard_diversity(texts: Sequence[str]) -> float | None:
    """Mean ``1 - Jaccard`` of word sets over pairs (0: same words, 1: disjoint)."""
    return _pairs_mean(texts, lambda a, b: 1.0 - jaccard(a, b))


def mean(values: Iterable[float | bool | None]) -> float | None:
    """Mean of the values that are not ``None`` (booleans count as 0/1); ``None`` when none are.

    >>> mean([1.0, None, 0.0, True])
    0.6666666666666666
    """
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def mean_token_entropy(logprobs: Iterable[Sequence[float]]) -> float | None:
    """``-mean(log p)`` over all sampled tokens (the entropy proxy of the module docs)."""
    values = [v for seq in logprobs for v in seq]
    return -sum(values) / len(values) if values else None


def _replies(transcripts: Sequence[Transcript], role: str | None) -> dict[tuple[str, int], list[str]]:
    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    for transcript in transcripts:
        for turn in transcript.turns:
            if role is None or turn.role == role:
                groups[(transcript.match_id, turn.ask)].append(turn.text.strip())
    return groups


def diversity_metric(role: str | None = None, n: Sequence[int] = (1, 2), name: str = "diversity") -> Metric:
    """``distinct_<n>`` over all replies of ``role`` (every seat when ``None``), and
    ``edit`` / ``jaccard`` over pairs of replies to one ask, averaged over asks with two or more."""
    def compute(transcripts: Sequence[Transcript]) -> dict[str, float | None] | None:
        groups = _replies(transcripts, role)
        texts = [x for g in groups.values() for x in g]
        if not texts:
            return None
        out: dict[str, float | None] = {f"distinct_{k}": distinct_n(texts, k) for k in n}
        for key, fn in (("edit", edit_diversity), ("jaccard", jaccard_diversity)):
            per_ask = [v for g in groups.values() if len(g) > 1 and (v := fn(g)) is not None]
            out[key] = sum(per_ask) / len(per_ask) if per_ask else None
        return out
    return Metric(name if role is None else f"{name}/{role}", compute)


def entropy_metric(role: str | None = None, name: str = "entropy") -> Metric:
    """Token entropy proxy over the sampled turns of ``role`` (every seat when ``None``)."""
    def compute(transcripts: Sequence[Transcript]) -> float | None:
        return mean_token_entropy(u.logprobs for t in transcripts for u in t.turns if role is None or u.role == role)
    return Metric(name if role is None else f"{name}/{role}", compute)


# -- self-correction --------------------------------------------------------------------

TRANSITIONS = ("right_right", "right_wrong", "wrong_right", "wrong_wrong")


def correction_decomposition(pairs: Iterable[tuple[bool, bool]]) -> dict[str, float | None]:
    """Transition counts and rates of (first right, second right) pairs (see the module docs)."""
    counts = dict.fromkeys(TRANSITIONS, 0)
    for first, second in pairs:
        counts[f"{'right' if first else 'wrong'}_{'right' if second else 'wrong'}"] += 1
    n = sum(counts.values())
    right1 = counts["right_right"] + counts["right_wrong"]
    wrong1 = counts["wrong_right"] + counts["wrong_wrong"]
    out: dict[str, float | None] = {k: float(v) for k, v in counts.items()}
    out["n"] = float(n)
    out["accuracy_first"] = right1 / n if n else None
    out["accuracy_second"] = (counts["right_right"] + counts["wrong_right"]) / n if n else None
    out["delta"] = (counts["wrong_right"] - counts["right_wrong"]) / n if n else None
    out["kept_rate"] = counts["right_right"] / right1 if right1 else None
    out["fixed_rate"] = counts["wrong_right"] / wrong1 if wrong1 else None
    return out


def correction_metric(pairs: Callable[[Transcript], Iterable[tuple[bool, bool]]],
                      name: str = "self_correction") -> Metric:
    """:func:`correction_decomposition` over the (first right, second right) pairs of transcripts."""
    def compute(transcripts: Sequence[Transcript]) -> dict[str, float | None] | None:
        found = [p for t in transcripts for p in pairs(t)]
        return correction_decomposition(found) if found else None
    return Metric(name, compute)


# -- named measurements -----------------------------------------------------------------

def measurement(name: str) -> Metric | None:
    """The named measurement of the module docs, or ``None`` when ``name`` is not one."""
    if name in ("diversity", "entropy"):
        return diversity_metric() if name == "diversity" else entropy_metric()
    head, _, rest = name.partition("/")
    if head == "consistency" and rest:
        return consistency_metric(rest)
    if head == "calibration" and rest.count("/") == 1 and all(rest.split("/")):
        confidence, correct = rest.split("/")
        return calibration_metric(reward_pairs(confidence, correct), name=name)
    return None
