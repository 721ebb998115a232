"""Several samples per ask: `sparring play examples/letter_count_samples.py:LetterCountSamples -n 16 --out out/letters4`.

The counter answers each question `samples` times (`match.ask(..., n=samples)`). Each
sample is its own turn of the transcript, so the reward scores each one with
`Score(turn=...)`, the turn's index in `transcript.turns` (turns are ordered by ask, then by
sample). GRPO groups are formed per ask: the `samples` replies to one question are one
group, each judged against the group's mean, so a question that is hard for every sample
teaches nothing and one answered right half the time teaches most.
"""

from sparring import Arena, Outcome, Role, SamplingParams, Score, parsers, reward

counter = Role(  # as in examples/letter_count.py; temperature > 0 so the samples differ
    name="counter",
    system_prompt="You count letters in words. End with 'Answer: <number>'.",
    parser=parsers.answer_number,
    sampling=SamplingParams(max_new_tokens=32, temperature=0.7),
)


@reward("count_correct_each", bounds=(0.0, 1.0))
def count_correct_each(t):
    o = t.outcome
    turns = [u.index for u in t.turns if u.role == "counter"]  # one turn per sample, in sample order
    return [Score("counter", float(answer == o["truth"]), f"said {answer}, truth {o['truth']}", turn=i)
            for i, answer in zip(turns, o["answers"], strict=True)]


class LetterCountSamples(Arena):
    id = "examples/letter-count-samples-v1"
    roles = ("counter",)
    reward_bounds = (0.0, 1.0)
    max_turns = 8

    def __init__(self, samples=4, words=("strawberry", "banana", "sparring")):
        super().__init__()
        self.samples = samples
        self.words = list(words)

    def default_roles(self):
        return {"counter": counter}

    def rewards(self):
        return [count_correct_each]

    async def play(self, match):
        word = match.rng.choice(self.words)
        letter = match.rng.choice(sorted(set(word)))
        replies = await match.ask("counter", f"How many times does '{letter}' appear in '{word}'?", n=self.samples)
        truth = word.count(letter)
        answers = [r.parsed for r in replies]  # r.sample is 0..n-1, r.ask the ask's index
        return Outcome({"word": word, "letter": letter, "truth": truth, "answers": answers},
                       f"'{letter}' in {word}: {answers} (truth {truth})")
