"""An arena with a declared curriculum (its ``level`` grows after every iteration, up to 3): curriculum tests."""

from sparring import Arena, Curriculum, Outcome, Role, SamplingParams, Score, metric, reward

SEAT = SamplingParams(max_new_tokens=8, temperature=1.0)


@reward("variety", bounds=(0.0, 1.0))
def variety(t):
    return [Score(u.role, len(set(u.token_ids)) / 8, f"{len(set(u.token_ids))} distinct tokens", turn=u.index)
            for u in t.turns]


@metric("writer/variety", per_match=True)
def writer_variety(t):
    return sum(len(set(u.token_ids)) for u in t.turns) / 8 / len(t.turns)


class Levels(Arena):
    id = "tests/levels-v1"
    roles = ("writer",)
    reward_bounds = (0.0, 1.0)
    max_turns = 4

    def __init__(self, level: int = 1, grow_at: float = 0.0):
        super().__init__()
        self.level = level
        self.grow_at = grow_at

    def default_roles(self):
        return {"writer": Role(name="writer", sampling=SEAT)}

    def rewards(self):
        return [variety]

    def curriculum(self):
        return Curriculum("level", 3, writer_variety, self.grow_at)

    async def play(self, match):
        await match.ask("writer", f"Write {self.level} words about the number {match.rng.randint(0, 99)}.", n=4)
        return Outcome({"level": self.level})
