"""A new role, reward and arena: `sparring play examples/letter_count.py:LetterCount -n 16 --out out/letters`."""

from sparring import Arena, Outcome, Role, SamplingParams, Score, parsers, reward

counter = Role(
    name="counter",
    system_prompt="You count letters in words. End with 'Answer: <number>'.",
    parser=parsers.answer_number,
    sampling=SamplingParams(max_new_tokens=32, temperature=0.7),
)


@reward("count_correct")
def count_correct(t):
    o = t.outcome
    right = o["answer"] == o["truth"]
    return [Score("counter", float(right), f"said {o['answer']}, truth {o['truth']}", turn=0)]


class LetterCount(Arena):
    id = "examples/letter-count-v1"
    roles = ("counter",)
    reward_bounds = (0.0, 1.0)
    max_turns = 1

    def __init__(self, words=("strawberry", "banana", "sparring")):
        super().__init__()
        self.words = list(words)

    def default_roles(self):
        return {"counter": counter}

    def rewards(self):
        return [count_correct]

    async def play(self, match):
        word = match.rng.choice(self.words)
        letter = match.rng.choice(sorted(set(word)))
        reply = await match.ask("counter", f"How many times does '{letter}' appear in '{word}'?")
        truth = word.count(letter)
        return Outcome({"word": word, "letter": letter, "truth": truth, "answer": reply.parsed},
                       f"'{letter}' in {word}: {reply.parsed} (truth {truth})")
