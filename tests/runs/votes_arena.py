"""Six voters answer one item; a label-free majority reward and a truth reward beside it.

A random model's "answer" is the number of distinct tokens of its reply modulo 3, so the
share agreeing with the majority varies from match to match (agreement-band, replay and
collapse-guard tests).
"""

from sparring import Arena, Outcome, Role, SamplingParams, Score, reward
from sparring.rewards.equivalence import majority_vote

SEAT = SamplingParams(max_new_tokens=6, temperature=1.0)


def answer(token_ids):
    return len(set(token_ids)) % 3


@reward("agree", bounds=(0.0, 1.0))
def agree(t):
    top = t.outcome["majority"]
    return [Score(u.role, float(answer(u.token_ids) == top), f"answer vs majority {top}", turn=u.index)
            for u in t.turns]


@reward("truth", bounds=(0.0, 1.0))
def truth(t):
    return [Score(u.role, float(answer(u.token_ids) == t.outcome["truth"]), "answer vs truth", turn=u.index)
            for u in t.turns]


class Votes(Arena):
    id = "tests/votes-v1"
    roles = ("voter",)
    reward_bounds = (0.0, 1.0)
    max_turns = 6
    default_rewards = {"voter": "agree"}

    def default_roles(self):
        return {"voter": Role(name="voter", sampling=SEAT)}

    def rewards(self):
        return [agree, truth]

    async def play(self, match):
        item = match.rng.randint(0, 99)
        replies = await match.ask("voter", f"Item {item}: answer 0, 1 or 2.", n=6)
        answers = [answer(r.token_ids) for r in replies]
        top, _ = majority_vote(answers)
        return Outcome({"majority": top, "truth": item % 3, "answers": answers})
