"""Seeded personas with checkable attributes and the tasks they make ambiguous (elicitation).

A :class:`PersonaTask` is a person (a name and one value per attribute of
:data:`ATTRIBUTES`) and a request whose best answer depends on some of those attributes
(:data:`TASKS` names which). The attribute values are plain words, so whether a dialogue
brought one out, or a reply took it into account, is checked by looking for the word
(:func:`mentioned`); nothing is downloaded and nothing is judged by a model.

Splits: an item's split is the hash bucket of its key (10% test, 10% validation, the
rest train; :func:`~sparring.arenas.tasks.family.split_of_key`). A training match draws a
fresh train item from its seed; item ``i`` of validation or test is the ``i``-th distinct
item of that split in a fixed enumeration, so an evaluation on seeds ``0..n-1`` sees ``n``
distinct items, the same for every run and arm.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from sparring.agents.sampling import derive_seed
from sparring.arenas.tasks.family import MAX_TRIES, TaskError, check_split, split_of_key

ATTRIBUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "diet": ("You eat {}.", ("vegetarian", "vegan", "pescatarian", "halal", "everything")),
    "budget": ("Your budget is {}.", ("tight", "moderate", "generous")),
    "cuisine": ("Your favourite cuisine is {}.", ("Italian", "Japanese", "Mexican", "Indian", "Greek", "Thai")),
    "hobby": ("Your hobby is {}.", ("hiking", "painting", "chess", "gardening", "cycling", "photography")),
    "city": ("You live in {}.", ("Lisbon", "Oslo", "Denver", "Osaka", "Nairobi", "Montreal")),
    "pet": ("At home you have {}.", ("a cat", "a dog", "a parrot", "no pets")),
    "schedule": ("You are free {}.", ("mornings", "evenings", "weekends")),
    "stage": ("You are {}.", ("a student", "a new parent", "a nurse on night shifts", "retired")),
    "transport": ("You get around by {}.", ("car", "bicycle", "train", "bus")),
}
"""Attribute name -> (sentence template for the persona card, possible values)."""

NAMES = ("Ana", "Bo", "Chen", "Dara", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kemi", "Lior")

TASKS: dict[str, tuple[str, ...]] = {
    "Suggest a dinner recipe for me.": ("diet", "cuisine", "budget"),
    "Plan a weekend trip for me.": ("city", "budget", "transport", "hobby"),
    "Recommend a gift I would enjoy.": ("hobby", "budget"),
    "Help me plan a weekly exercise routine.": ("schedule", "hobby", "stage"),
    "Suggest how I could spend a free Saturday.": ("hobby", "city", "pet"),
    "Plan a birthday dinner out for me.": ("diet", "cuisine", "city", "budget"),
    "Suggest a new daily routine that fits my life.": ("schedule", "stage", "pet", "transport"),
}
"""The request -> the attributes its best answer depends on."""

TEST_FRACTION, VALIDATION_FRACTION = 0.1, 0.1
POOL_SIZE = 2000
"""Distinct items enumerated per held-out split (seeds ``0..POOL_SIZE-1``)."""


@dataclass(frozen=True)
class PersonaTask:
    """A persona and a request.

    Attributes:
        name: The person's first name.
        attributes: One value per attribute of :data:`ATTRIBUTES`, as ``(name, value)`` pairs.
        task: The request the person makes (a key of :data:`TASKS`).
    """

    name: str
    attributes: tuple[tuple[str, str], ...]
    task: str

    @property
    def relevant(self) -> dict[str, str]:
        """The attributes this task depends on, with this persona's values."""
        values = dict(self.attributes)
        return {a: values[a] for a in TASKS[self.task]}

    @property
    def card(self) -> str:
        """The persona as the roleplayer and the oracle read it (second person)."""
        lines = [f"Your name is {self.name}."] + [ATTRIBUTES[a][0].format(v) for a, v in self.attributes]
        return " ".join(lines)

    @property
    def key(self) -> str:
        """Identity of the item (split and de-duplication read it)."""
        return f"{self.task}|{self.name}|" + ";".join(f"{a}={v}" for a, v in self.attributes)

    def to_json(self) -> dict[str, object]:
        """Plain JSON for a match's outcome."""
        return {"name": self.name, "attributes": dict(self.attributes), "task": self.task,
                "relevant": self.relevant}


def generate(rng: random.Random) -> PersonaTask:
    """A persona and a task drawn from ``rng``."""
    name = rng.choice(NAMES)
    attributes = tuple((a, rng.choice(values)) for a, (_, values) in ATTRIBUTES.items())
    return PersonaTask(name, attributes, rng.choice(sorted(TASKS)))


def split_of(item: PersonaTask) -> str:
    """``train``, ``validation`` or ``test`` by the hash of the item's key."""
    return split_of_key(item.key, TEST_FRACTION, VALIDATION_FRACTION)


_POOLS: dict[str, list[PersonaTask]] = {}


def held_out(split: str, index: int) -> PersonaTask:
    """Item ``index`` of a held-out split's fixed enumeration (see the module docs)."""
    if not 0 <= index < POOL_SIZE:
        raise TaskError(f"held-out persona item {index} asked; there are {POOL_SIZE} per split (seeds 0..{POOL_SIZE - 1})")
    pool = _POOLS.setdefault(split, [])
    if len(pool) <= index:
        rng = random.Random(derive_seed("personas", split, len(pool)))
        seen = {p.key for p in pool}
        while len(pool) <= index:
            item = generate(rng)
            if split_of(item) == split and item.key not in seen:
                seen.add(item.key)
                pool.append(item)
    return pool[index]


def draw(rng: random.Random, seed: int, split: str) -> PersonaTask:
    """The item a match plays: a fresh train item from ``rng``, or held-out item ``seed``."""
    split = check_split(split)
    if split != "train":
        return held_out(split, seed)
    for _ in range(MAX_TRIES):
        item = generate(rng)
        if split_of(item) == "train":
            return item
    raise TaskError(f"no train persona found in {MAX_TRIES} draws")  # pragma: no cover - 80% are train


def mentioned(value: str, text: str) -> bool:
    """Whether an attribute value occurs in ``text`` as words (case-insensitive; a leading
    article is optional, so "a cat" is found in "my cat")."""
    core = re.sub(r"^(a|an|no) ", lambda m: "no " if m.group(1) == "no" else "", value.lower())
    return re.search(rf"\b{re.escape(core)}\b", text.lower()) is not None


def recall(values: dict[str, str], text: str) -> float:
    """Share of ``values`` mentioned in ``text`` (1.0 when there are none)."""
    return sum(mentioned(v, text) for v in values.values()) / len(values) if values else 1.0
