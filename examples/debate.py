"""A three-seat debate written from README alone: two debaters argue, a judge decides.

`sparring train examples/debate.toml --out out/debate` trains the judge; its held-out
metric is the judge's accuracy against the truth of the claim, which no seat is shown.
"""

from sparring import (
    Arena,
    Evaluation,
    Outcome,
    Role,
    SamplingParams,
    Score,
    metric,
    parsers,
    reward,
)

ARGUE = "You argue one side of a claim about arithmetic in two sentences. Be persuasive."
pro = Role(name="pro", system_prompt=ARGUE + " You argue the claim is TRUE.",
           sampling=SamplingParams(max_new_tokens=48, temperature=0.8))
con = Role(name="con", system_prompt=ARGUE + " You argue the claim is FALSE.",
           sampling=SamplingParams(max_new_tokens=48, temperature=0.8))
judge = Role(name="judge", parser=parsers.choice("TRUE", "FALSE"),
             system_prompt="Read a claim and two arguments. Decide if the claim is true. "
                           "End with 'Winner: TRUE' or 'Winner: FALSE'.",
             sampling=SamplingParams(max_new_tokens=24, temperature=0.8))


@reward("judge_correct", bounds=(0.0, 1.0))
def judge_correct(t):
    o = t.outcome
    return [Score("judge", float(o["decision"] == o["truth"]), f"said {o['decision']}, truth {o['truth']}", turn=2)]


@reward("debate_win", bounds=(-1.0, 1.0))
def debate_win(t):
    d = t.outcome["decision"]
    if d is None:
        return None
    won = 1.0 if d == "TRUE" else -1.0
    return [Score("pro", won, f"judge said {d}"), Score("con", -won, f"judge said {d}")]


@metric("judge_accuracy", per_match=True)
def judge_accuracy(t):
    return t.outcome["decision"] == t.outcome["truth"]


@metric("pro_win_rate", per_match=True)
def pro_win_rate(t):
    return t.outcome["decision"] == "TRUE"


class Debate(Arena):
    id = "examples/debate-v1"
    roles = ("pro", "con", "judge")
    reward_bounds = (-1.0, 1.0)
    max_turns = 3
    default_rewards = {"judge": "judge_correct", "pro": "debate_win", "con": "debate_win"}
    examples = {"judge": ["Winner: TRUE", "Winner: FALSE"], "pro": ["It is true."], "con": ["It is false."]}

    def __init__(self, digits: int = 1):
        super().__init__()
        self.digits = digits

    def default_roles(self):
        return {"pro": pro, "con": con, "judge": judge}

    def rewards(self):
        return [judge_correct, debate_win]

    def evaluation(self):
        return Evaluation(metrics=[judge_accuracy, pro_win_rate])

    async def play(self, match):
        hi = 10 ** self.digits - 1
        a, b = match.rng.randint(0, hi), match.rng.randint(0, hi)
        shown = a + b + (0 if match.rng.random() < 0.5 else match.rng.choice([-2, -1, 1, 2]))
        claim = f"{a} + {b} = {shown}"
        for_it, against = await match.gather(match.ask("pro", f"Claim: {claim}"), match.ask("con", f"Claim: {claim}"))
        verdict = await match.ask("judge", f"Claim: {claim}\nArgument for: {for_it.text}\nArgument against: {against.text}")
        truth = "TRUE" if shown == a + b else "FALSE"
        decision = verdict.parsed if verdict.ok else None
        return Outcome({"claim": claim, "truth": truth, "decision": decision}, f"{claim}: judge {decision}, truth {truth}")
