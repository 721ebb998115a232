"""Two-seat arenas for tournament tests: the longer reply wins (by reward, or declared)."""

from sparring import Arena, Outcome, Role, SamplingParams, Score, reward

SEAT = SamplingParams(max_new_tokens=6, temperature=1.0)


@reward("longer", bounds=(-1.0, 1.0))
def longer(t):
    a, b = t.outcome["lengths"]
    sign = (a > b) - (a < b)
    return [Score("first", float(sign), f"{a} vs {b} characters"), Score("second", float(-sign), f"{b} vs {a} characters")]


class Duel(Arena):
    """Both seats answer the same prompt; the longer reply wins (reward +1/-1, equal: 0)."""

    id = "tests/duel-v1"
    roles = ("first", "second")
    zero_sum = True
    reward_bounds = (-1.0, 1.0)
    max_turns = 2

    def default_roles(self):
        return {"first": Role(name="first", sampling=SEAT), "second": Role(name="second", sampling=SEAT)}

    def rewards(self):
        return [longer]

    async def play(self, match):
        prompt = f"Say something about {match.rng.randint(0, 99)}."
        a, b = await match.gather(match.ask("first", prompt), match.ask("second", prompt))
        return Outcome({"lengths": [len(a.text), len(b.text)], "texts": [a.text, b.text]},
                       f"{len(a.text)} vs {len(b.text)}")


class CountA(Duel):
    """The same duel, but the arena declares the winner: more letters 'a' wins (rewards ignored)."""

    id = "tests/count-a-v1"

    def winner(self, transcript):
        a, b = (text.count("a") for text in transcript.outcome["texts"])
        return None if a == b else "first" if a > b else "second"


BEATS = {"rock": "scissors", "scissors": "paper", "paper": "rock"}


class RockPaperScissors(Duel):
    """Each seat names a move; the arena declares the winner (anything else loses to a move)."""

    id = "tests/rps-v1"

    def winner(self, transcript):
        a, b = (text.strip().lower() for text in transcript.outcome["texts"])
        if a == b or (a not in BEATS and b not in BEATS):
            return None
        if b not in BEATS or BEATS.get(a) == b:
            return "first"
        return "second"


class TiesToFirst(Duel):
    """The longer reply wins and a tie goes to the first seat: a seat advantage BT's seat term must find."""

    id = "tests/ties-to-first-v1"

    def winner(self, transcript):
        a, b = (len(text) for text in transcript.outcome["texts"])
        return "first" if a >= b else "second"
