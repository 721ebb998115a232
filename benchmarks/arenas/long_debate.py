"""A debate whose judge samples several verdicts per match, on prompts carrying every speech.

The memory case of ``benchmarks/memory.py`` (issue 24): a debate written from README alone,
like ``examples/debate.py``, but the judge is asked ``judge_samples`` times per match (one
GRPO group per match) and its prompt carries both debaters' speeches of every round, each
up to ``speech_tokens`` tokens, so prompt length x samples is what a training step holds.
``rounds > 1`` makes each debater answer the other's previous speech (longer prompts).
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

ARGUE = "You argue one side of a claim about arithmetic. Be persuasive and detailed."


@reward("judge_correct", bounds=(0.0, 1.0))
def judge_correct(t):
    o = t.outcome
    turns = [turn.index for turn in t.turns if turn.role == "judge"]
    return [Score("judge", float(d == o["truth"]), f"said {d}, truth {o['truth']}", turn=i)
            for i, d in zip(turns, o["decisions"], strict=True)]


@metric("judge_accuracy", per_match=True)
def judge_accuracy(t):
    return sum(d == t.outcome["truth"] for d in t.outcome["decisions"]) / len(t.outcome["decisions"])


class LongDebate(Arena):
    id = "benchmarks/long-debate-v1"
    roles = ("pro", "con", "judge")
    reward_bounds = (0.0, 1.0)
    default_rewards = {"judge": "judge_correct"}
    examples = {"judge": ["Winner: TRUE", "Winner: FALSE"], "pro": ["It is true."], "con": ["It is false."]}

    def __init__(self, speech_tokens: int = 48, judge_samples: int = 4, rounds: int = 1, digits: int = 1):
        super().__init__()
        self.speech_tokens, self.judge_samples, self.rounds, self.digits = speech_tokens, judge_samples, rounds, digits

    def default_roles(self):
        speech = SamplingParams(max_new_tokens=self.speech_tokens, temperature=0.8)
        return {
            "pro": Role(name="pro", system_prompt=ARGUE + " You argue the claim is TRUE.", sampling=speech),
            "con": Role(name="con", system_prompt=ARGUE + " You argue the claim is FALSE.", sampling=speech),
            "judge": Role(name="judge", parser=parsers.choice("TRUE", "FALSE"),
                          system_prompt="Read a claim and the debate about it. Decide if the claim is true. "
                                        "End with 'Winner: TRUE' or 'Winner: FALSE'.",
                          sampling=SamplingParams(max_new_tokens=24, temperature=0.8)),
        }

    def rewards(self):
        return [judge_correct]

    def evaluation(self):
        return Evaluation(metrics=[judge_accuracy])

    async def play(self, match):
        hi = 10 ** self.digits - 1
        a, b = match.rng.randint(0, hi), match.rng.randint(0, hi)
        shown = a + b + (0 if match.rng.random() < 0.5 else match.rng.choice([-2, -1, 1, 2]))
        claim = f"{a} + {b} = {shown}"
        transcript = ""
        for r in range(self.rounds):
            context = f"Claim: {claim}" + (f"\nDebate so far:{transcript}\nAnswer the other side." if r else "")
            pro, con = await match.gather(match.ask("pro", context), match.ask("con", context))
            transcript += f"\nRound {r + 1}, for: {pro.text}\nRound {r + 1}, against: {con.text}"
        verdicts = await match.ask("judge", f"Claim: {claim}{transcript}", n=self.judge_samples)
        truth = "TRUE" if shown == a + b else "FALSE"
        decisions = [v.parsed if v.ok else None for v in verdicts]
        return Outcome({"claim": claim, "truth": truth, "decisions": decisions},
                       f"{claim}: judges {decisions}, truth {truth}")
