"""A two-seat arena whose rewards vary within groups, so every iteration trains (kill tests)."""

from sparring import Arena, Outcome, Role, SamplingParams, Score, reward

SEAT = SamplingParams(max_new_tokens=8, temperature=1.0)


@reward("variety", bounds=(0.0, 1.0))
def variety(t):
    return [Score(u.role, len(set(u.token_ids)) / 8, f"{len(set(u.token_ids))} distinct tokens", turn=u.index)
            for u in t.turns]


class Lengths(Arena):
    id = "tests/lengths-v1"
    roles = ("writer", "editor")
    reward_bounds = (0.0, 1.0)
    max_turns = 8

    def default_roles(self):
        return {"writer": Role(name="writer", sampling=SEAT), "editor": Role(name="editor", sampling=SEAT)}

    def rewards(self):
        return [variety]

    async def play(self, match):
        drafts = await match.ask("writer", f"Write about the number {match.rng.randint(0, 99)}.", n=4)
        await match.ask("editor", f"Improve: {drafts[0].text}", n=4)
        return Outcome({"drafts": len(drafts)})
