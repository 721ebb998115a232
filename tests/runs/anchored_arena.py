"""A responder, an anchor and a judge on the same prompt, whose judge score needs no parse
(Temporal SR kill tests): the judge's reply to each answer is scored by a hash of its tokens."""

from sparring import Arena, Outcome, Role, SamplingParams, Score, reward
from sparring.rewards.judge_pairs import JudgedPairs

SEAT = SamplingParams(max_new_tokens=8, temperature=1.0)


@reward("judged", bounds=(0.0, 1.0))
def judged(t):
    return [Score(seat, value, "the judge's reply, hashed", turn=u.index)
            for seat in ("responder", "anchor") for u, value in zip(t.turns_of(seat), t.outcome[seat], strict=True)]


class Anchored(Arena):
    id = "tests/anchored-v1"
    roles = ("responder", "anchor", "judge")
    reward_bounds = (0.0, 1.0)
    max_turns = 16
    default_rewards = {"responder": "judged"}

    def default_roles(self):
        return {seat: Role(name=seat, sampling=SEAT) for seat in self.roles}

    def rewards(self):
        return [judged]

    def judged_pairs(self):
        return JudgedPairs(anchor_seat="anchor")

    async def play(self, match):
        prompt = f"Write about the number {match.rng.randint(0, 99)}."
        own, anchor = await match.gather([match.ask("responder", prompt, n=3), match.ask("anchor", prompt, n=2)])
        verdicts = await match.gather([match.ask("judge", f"Rate: {r.text}") for r in own + anchor])
        scores = [sum(v.token_ids) % 101 / 100 for v in verdicts]
        return Outcome({"responder": scores[:len(own)], "anchor": scores[len(own):]})
