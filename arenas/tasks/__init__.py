"""Task families: seeded, programmatically checkable prompts with a held-out split.

The package cannot download datasets at run time, so arenas that need prompts with a
known answer draw them from a :class:`TaskFamily`. Each family has

- a seeded **generator** with a difficulty knob: ``generate(rng, difficulty)`` returns
  ``(prompt, answer)`` or ``(prompt, answer, reference_reply)``; all randomness comes from
  the ``random.Random`` it is given (in arenas, ``match.rng``);
- a **parser** and a **checker**: ``parse(reply)`` reads the answer from a reply's
  ``Answer:`` line (by the family's answer ``kind``: ``number``, ``list`` of numbers or
  ``text``), ``check(answer, truth)`` says whether it is right;
- a **reference reply** (``"37 + 58 = 95.\\nAnswer: 95"``) for SPIN / SFT on references;
- three **splits** by a hash of the normalised prompt: ``train``, ``validation`` (model
  selection: best checkpoint, early stopping) and ``test`` (reported, never decides), of
  ``1 - validation_fraction - test_fraction``, ``validation_fraction`` and
  ``test_fraction`` of the hash space (default 80/10/10), so the training split never
  produces an evaluation item, whatever the seed; ``held_out`` is read as ``test``;
  ``pool(split, difficulty)`` lists a split's distinct items in a fixed order (what
  evaluations play: item ``k`` for match seed ``k``) and ``split_counts(difficulty)``
  counts them (``sparring tasks`` prints the table);
- optionally a **solver of free-form problems** (``solve(problem) -> truth | None``): the
  truth of a problem a model wrote (``"What is 12 * 34?"``), used to log programmatic truth
  beside label-free rewards; ``None`` means unknown.

Built-in families (``families()``): ``arithmetic`` (+/-, difficulty = digits per operand),
``multiplication`` (SQLM's benchmark task), ``letters`` (count a letter in one of about
4,300 common English words; difficulty = word length band), ``sorting`` (sort a short list;
difficulty = list length and range), ``units`` (unit conversion with exact answers;
difficulty 1 metric to a smaller unit, 2 metric to a larger unit, 3 two-step, 4 imperial),
``word_problems`` (short stories with 1-4 operations and a numeric answer). Every difficulty
of ``letters`` and ``units`` holds well over 500 distinct test items; ``docs/task_splits.json``
has the counts of all built-ins.

A family of your own is one function pair::

    def generate(rng, difficulty):
        a = rng.randint(1, 10 ** difficulty)
        return f"What is {a} squared?", a * a

    squares = TaskFamily("squares", generate, kind="number", difficulties=(1, 3))
    register_family(squares)          # arenas then take family="squares"

(``check`` defaults to the kind's comparison; pass ``check=lambda answer, truth: ...`` to
grade otherwise), or a JSONL file of ``{"prompt": ..., "answer": ...}`` lines, named by
its path: ``family="data/capitals.jsonl"`` (optional keys ``reference``, ``difficulty``,
``split``; see :func:`load_jsonl`). An arena can also name ``"file.py:attribute"`` or
``"module:attribute"`` holding a ``TaskFamily``.

Programmatic truth is never shown to a seat by the arenas that use these families; it is
always logged in the match outcome.
"""

from sparring.arenas.tasks.answers import (
    canonical_number,
    normalise,
    parse_list,
    parse_number,
    parse_text,
    same_number,
)
from sparring.arenas.tasks.builtin import arithmetic_family
from sparring.arenas.tasks.family import (
    KINDS,
    MAX_TRIES,
    POOL_CAP,
    SPLITS,
    Generated,
    Item,
    Kind,
    Split,
    TaskError,
    TaskFamily,
    check_split,
    difficulty_range,
    solver_role,
    split_of_key,
)
from sparring.arenas.tasks.jsonl import JsonlFamily, load_jsonl
from sparring.arenas.tasks.registry import families, get_family, register_family

__all__ = [
    "KINDS", "MAX_TRIES", "POOL_CAP", "SPLITS", "Generated", "Item", "JsonlFamily", "Kind", "Split", "TaskError", "TaskFamily",
    "arithmetic_family", "canonical_number", "check_split", "difficulty_range", "families", "get_family", "load_jsonl",
    "normalise", "parse_list", "parse_number", "parse_text", "register_family", "same_number", "solver_role",
    "split_of_key",
]
