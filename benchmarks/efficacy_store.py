"""What the efficacy benchmark reads back from an arm's store: per-item results of an
evaluation, how a label-free reward tracks the truth, and cut held-out replies."""

from __future__ import annotations

from pathlib import Path

from sparring.runs.storage.store import Store


def item_results(run: Path, label: int, prefix: str = "eval-i") -> dict[str, float]:
    """``{item key: 1.0 right / 0.0 wrong}`` of the held-out matches stored at ``label``
    (``eval-i``: test, ``eval-val-i``: validation); a match that errored counts wrong."""
    out: dict[str, float] = {}
    with Store(run / "store.sqlite") as store:
        for t in store.transcripts(iteration=label):
            if t.match_id.startswith(prefix):
                outcome = t.outcome or {}
                out[str(outcome.get("item_key") or t.match_id)] = float(bool(outcome.get("correct")))
    return out


def signal(run: Path, seat: str, reward: str, truth: str) -> dict | None:
    """How well a label-free training reward tracks the truth on the training matches.

    Per turn of ``seat`` scored by both: the correlation of the two, the truth rate among
    turns the reward ranks top vs bottom of their match (the pair a best/worst builder
    makes), and the share of such pairs where the truth agrees, disagrees or ties.
    """
    from statistics import correlation, mean

    if not (run / "store.sqlite").exists():
        return None
    xs, ys, agree, disagree, tie, top, bottom = [], [], 0, 0, 0, [], []
    with Store(run / "store.sqlite") as store:
        for t in store.transcripts():
            if t.match_id.startswith(("eval-", "future-")) or t.status != "finished":
                continue
            r = {x.turn: x.value for x in t.rewards if x.reward == reward and x.role == seat and x.turn is not None}
            v = {x.turn: x.value for x in t.rewards if x.reward == truth and x.role == seat and x.turn is not None}
            both = sorted(k for k in r if k in v)
            xs += [r[k] for k in both]
            ys += [v[k] for k in both]
            if len(both) >= 2 and max(r[k] for k in both) > min(r[k] for k in both):
                best, worst = max(both, key=lambda k: r[k]), min(both, key=lambda k: r[k])
                top.append(v[best])
                bottom.append(v[worst])
                agree += v[best] > v[worst]
                disagree += v[best] < v[worst]
                tie += v[best] == v[worst]
    if len(xs) < 2:
        return None
    spread = len(set(xs)) > 1 and len(set(ys)) > 1
    pairs = agree + disagree + tie
    return {"seat": seat, "reward": reward, "truth": truth, "turns": len(xs),
            "correlation": correlation(xs, ys) if spread else None,
            "truth_mean": mean(ys), "pairs": pairs,
            "truth_of_top": mean(top) if top else None, "truth_of_bottom": mean(bottom) if bottom else None,
            "pairs_truth_agrees": agree / pairs if pairs else None,
            "pairs_truth_disagrees": disagree / pairs if pairs else None,
            "pairs_truth_ties": tie / pairs if pairs else None}


def held_out_replies(run: Path) -> list[dict] | None:
    """Per held-out evaluation (iteration, temperature): how many replies were cut at the
    token cap, and their mean length: whether a drop in accuracy is truncation."""
    if not (run / "store.sqlite").exists():
        return None
    groups: dict[tuple[int, float | None], list] = {}
    with Store(run / "store.sqlite") as store:
        for t in store.transcripts():
            if t.match_id.startswith("eval-"):
                for u in t.turns:
                    groups.setdefault((t.iteration, u.sampling.get("temperature")), []).append(u)
    return [{"iteration": it, "temperature": temp, "replies": len(turns),
             "cut_at_cap": sum(u.finish_reason == "length" for u in turns),
             "mean_tokens": sum(len(u.token_ids) for u in turns) / len(turns)}
            for (it, temp), turns in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0.0))]
