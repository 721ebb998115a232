"""Documents with checkable facts, for SPELL's document mode (``spell-documents``).

Nothing is downloaded: :func:`make_document` writes a seeded synthetic document of
biographies, one paragraph per person, each stating the person's birth date and city,
occupation and a count of things they kept, among filler sentences that state no fact.
Its length grows with the level: level ``L`` has ``2 ** (L - 1)`` paragraphs, from one
paragraph (about 40 words, 60 tokens of the embedded model) at level 1 to 64 paragraphs
(about 2,600 words, 4,000 tokens) at level 7 (``docs/document_lengths.json``). Names are distinct within a document, so every fact has one
answer: :meth:`Document.solve` reads the truth of a free-form question about it ("In which
city was Mara Quint born?") and :meth:`Document.contains` says whether an answer is stated
in the text at all (the grounding check, which needs no label and also works on user
documents).

A JSONL file of user documents (one ``{"text": "..."}`` per line) works too
(:func:`load_documents`); a user document at level ``L`` is its first ``2 ** (L - 1)``
paragraphs (blank-line separated), and its facts are unknown (``solve`` returns ``None``).

Splits, as for task families: a document's split is decided by a hash of its text
(80/10/10 train/validation/test, :func:`split_of_document`), so training reads ``train``
documents only, whatever the seed. A held-out item (:func:`pool_item`) is a synthetic
document of ``validation`` or ``test`` with its own question and answer (the question
drawn from a generator seeded by the document's text, so one document is one item);
each split holds :data:`POOL_SIZE` (1,000) distinct items at any level range.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from sparring.agents.sampling import derive_seed
from sparring.arenas.tasks.answers import normalise
from sparring.arenas.tasks.family import MAX_TRIES, Split, TaskError, check_split, split_of_key

TEST_FRACTION = 0.1
VALIDATION_FRACTION = 0.1
LEVELS = (1, 7)
"""Inclusive range of document levels (level ``L``: ``2 ** (L - 1)`` paragraphs)."""

_FIRST = ("Mara", "Tomas", "Ilse", "Arjun", "Keiko", "Lucas", "Noor", "Piotr", "Greta", "Emeka", "Sofia", "Dmitri",
          "Hana", "Mateo", "Aisha", "Oskar", "Lena", "Ravi", "Yara", "Felix", "Ines", "Kofi", "Clara", "Jonas",
          "Mei", "Anton", "Zara", "Hugo", "Leila", "Bruno", "Nadia", "Elias", "Rosa", "Tariq", "Vera", "Milan")
_LAST = ("Quint", "Halvorsen", "Okafor", "Brandt", "Moreau", "Castell", "Lindqvist", "Tanaka", "Novak", "Ferreira",
         "Adeyemi", "Kowalski", "Rossi", "Sandoval", "Petrov", "Achebe", "Varga", "Nakamura", "Dumont", "Reyes",
         "Holm", "Marsh", "Bianchi", "Kaur", "Fischer", "Oyelaran", "Strand", "Ibarra", "Weller", "Duarte")
_CITIES = ("Oslo", "Lisbon", "Nairobi", "Kyoto", "Quito", "Tallinn", "Porto", "Accra", "Hanoi", "Lyon", "Gdansk",
           "Tucson", "Bergen", "Cusco", "Dakar", "Turin", "Halifax", "Leipzig", "Malaga", "Pune", "Riga", "Perth",
           "Geneva", "Ghent", "Bilbao", "Krakow", "Toledo", "Durban", "Tromso", "Valencia")
_JOBS = ("carpenter", "pharmacist", "surveyor", "violinist", "baker", "geologist", "librarian", "welder",
         "translator", "nurse", "architect", "beekeeper", "printer", "glassblower", "pilot", "tailor", "chemist",
         "potter", "ferry captain", "watchmaker", "cartographer", "botanist", "stonemason", "journalist")
_THINGS = ("goats", "books", "bicycles", "paintings", "clocks", "maps", "violins", "lamps", "kites", "chess sets",
           "telescopes", "hats")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_FILLER = ("The winters there were long and quiet.", "Neighbours remembered a habit of early walks.",
           "Letters from that time survive in a small archive.", "The house had a green door and a narrow garden.",
           "Friends described a patient and careful manner.", "Travel was rare, and mostly by train.",
           "A local newspaper once printed a short profile.", "Sundays were kept for long family dinners.",
           "The workshop smelled of oil and fresh sawdust.", "Music played in the kitchen most evenings.",
           "Old photographs show a crowded market street nearby.", "Summers were spent near a cold lake.")


@dataclass(frozen=True)
class Person:
    """The facts one paragraph states."""

    name: str
    day: int
    month: str
    year: int
    city: str
    job: str
    count: int
    thing: str

    def paragraph(self, filler: list[str]) -> str:
        """The paragraph stating this person's facts, with ``filler`` sentences between them."""
        article = "an" if self.job[0] in "aeiou" else "a"
        return (f"{self.name} was born on {self.day} {self.month} {self.year} in {self.city}. {filler[0]} "
                f"{self.name.split()[0]} worked as {article} {self.job} for many years. {filler[1]} "
                f"By the end, {self.name.split()[0]} kept {self.count} {self.thing}.")


@dataclass(frozen=True)
class Document:
    """A document's text and, for a synthetic one, the people whose facts it states."""

    text: str
    level: int
    people: tuple[Person, ...] = ()

    @property
    def words(self) -> int:
        """Words in the text (a token count is about 1.3 times this)."""
        return len(self.text.split())

    def contains(self, answer: str) -> bool:
        """Whether ``answer`` (normalised, whole words) is stated in the text."""
        return states(self.text, answer)

    def evidence(self, answer: str, limit: int = 3) -> list[str]:
        """Up to ``limit`` sentences of the text that state ``answer`` (what the verifier checks)."""
        wanted = normalise(answer)
        if not wanted:
            return []
        sentences = re.split(r"(?<=[.!?])\s+", self.text)
        return [s for s in sentences if _phrase(wanted).search(normalise(s))][:limit]

    def solve(self, question: str) -> str | None:
        """The truth of a question about one person's fact; ``None`` when it is not one
        (no or several people named, no or several kinds of fact asked, a user document)."""
        q = question.lower()
        named = [p for p in self.people if p.name.lower() in q]
        if len(named) != 1:
            return None
        person = named[0]
        kinds = {"year": ("year",), "city": ("city", "town", "where"),
                 "job": ("work", "job", "occupation", "profession"), "count": ("how many",)}
        asked = [k for k, words in kinds.items() if any(w in q for w in words)]
        if len(asked) != 1:
            return None
        return {"year": str(person.year), "city": person.city, "job": person.job, "count": str(person.count)}[asked[0]]


def states(text: str, answer: str) -> bool:
    """Whether ``answer`` (normalised, whole words) occurs in ``text`` (normalised)."""
    wanted = normalise(answer)
    return bool(wanted) and _phrase(wanted).search(normalise(text)) is not None


def _phrase(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)")


def paragraphs(level: int) -> int:
    """Paragraphs of a document at ``level``."""
    return 2 ** (level - 1)


def check_level(level: object, what: str = "level") -> int:
    """``level`` if it is an integer in :data:`LEVELS`; a :class:`TaskError` naming the range otherwise."""
    if isinstance(level, bool) or not isinstance(level, int) or not LEVELS[0] <= level <= LEVELS[1]:
        raise TaskError(f"{what} must be an integer in {LEVELS[0]}..{LEVELS[1]} (level L has 2**(L-1) paragraphs), "
                        f"got {level!r}")
    return level


def make_document(rng: random.Random, level: int) -> Document:
    """A synthetic document at ``level`` drawn from ``rng`` (distinct names within it)."""
    n = paragraphs(check_level(level))
    names: list[str] = []
    while len(names) < n:
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        if name not in names:
            names.append(name)
    people = tuple(Person(name, rng.randint(1, 28), rng.choice(_MONTHS), rng.randint(1901, 1999),
                          rng.choice(_CITIES), rng.choice(_JOBS), rng.randint(2, 99), rng.choice(_THINGS))
                   for name in names)
    text = "\n\n".join(p.paragraph(rng.sample(_FILLER, 2)) for p in people)
    return Document(text, level, people)


def question_of(document: Document) -> tuple[str, str]:
    """The document's own question and answer (drawn from a generator seeded by its text,
    so one document is one item)."""
    rng = random.Random(document_key(document.text))
    person = rng.choice(document.people)
    kind = rng.choice(("year", "city", "job", "count"))
    question = {"year": f"In which year was {person.name} born?", "city": f"In which city was {person.name} born?",
                "job": f"What did {person.name} work as?",
                "count": f"How many {person.thing} did {person.name} keep?"}[kind]
    truth = document.solve(question)
    assert truth is not None  # every templated question names one person and one kind of fact
    return question, truth


def item_prompt(text: str, question: str) -> str:
    """What a responder sees: the document, then the question."""
    return f"Document:\n{text}\n\nQuestion: {question}\nAnswer from the document; end with 'Answer: <answer>'."


def answer_matches(answer: object, truth: object) -> bool:
    """Whether an answer states the truth: equal after normalising, or the truth as whole
    words inside an answer at most six words longer (so listing candidates does not pay)."""
    a, t = normalise(str(answer)), normalise(str(truth))
    if not a or not t:
        return False
    return a == t or (len(a.split()) <= len(t.split()) + 6 and _phrase(t).search(a) is not None)


def document_key(text: str) -> str:
    """A short identity of a document's text (sha256 prefix): its split and de-duplication
    read this, so a several-thousand-token text is hashed once, quickly."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def split_of_document(text: str) -> Split:
    """The split of a document: 80/10/10 (train/validation/test) by the hash of its text."""
    return split_of_key(document_key(text), TEST_FRACTION, VALIDATION_FRACTION)


def draw_document(rng: random.Random, level: int, split: str = "train") -> Document:
    """A synthetic document of ``split`` drawn from ``rng``."""
    split = check_split(split)
    for _ in range(MAX_TRIES):
        document = make_document(rng, level)
        if split_of_document(document.text) == split:
            return document
    raise TaskError(f"no {split} document in {MAX_TRIES} draws at level {level}")  # pragma: no cover (10% per draw)


@dataclass(frozen=True)
class DocumentItem:
    """A held-out item: a synthetic document, its question and the answer it states."""

    document: Document
    question: str
    truth: str

    @property
    def key(self) -> str:
        """The item's identity (its document's :func:`document_key`)."""
        return document_key(self.document.text)


POOL_SIZE = 1000
"""Distinct held-out items per split and level range (seeds ``0..999``): the space of
documents is far larger, so each split holds them all."""
_CHUNK = 50
_POOLS: dict[tuple[str, int, int], list[DocumentItem]] = {}


def pool_item(split: str, levels: tuple[int, int], index: int) -> DocumentItem:
    """Item ``index`` of the distinct ``split`` documents at levels ``levels`` (inclusive),
    enumerated in a fixed order from a generator seeded by split and levels, so every run
    and every arm sees the same items; extended lazily as far as ``index``."""
    split = check_split(split)
    if not 0 <= index < POOL_SIZE:
        raise TaskError(f"held-out document item {index} asked; there are {POOL_SIZE} per split (seeds 0..{POOL_SIZE - 1})")
    found = _POOLS.setdefault((split, *levels), [])
    while len(found) <= index:  # whole chunks, each from its own seed: the order never depends on access
        rng = random.Random(derive_seed("document-pool", split, levels[0], levels[1], len(found) // _CHUNK))
        seen = {item.key for item in found}
        end = len(found) + _CHUNK
        while len(found) < end:
            document = make_document(rng, rng.randint(*levels))
            key = document_key(document.text)
            if key not in seen and split_of_document(document.text) == split:
                seen.add(key)
                found.append(DocumentItem(document, *question_of(document)))
    return found[index]


def load_documents(path: str | Path) -> tuple[str, ...]:
    """The texts of a JSONL file of ``{"text": "..."}`` lines (blank lines skipped).

    Raises:
        TaskError: naming the file and line of the first malformed line, or an empty file.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise TaskError(f"documents file {path} does not exist (a JSONL file of {{\"text\": ...}} lines)")
    texts: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise TaskError(f"{path}:{number}: not JSON ({err.msg}); each line must be {{\"text\": \"...\"}}") from err
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise TaskError(f"{path}:{number}: each line must be an object with a non-empty \"text\" string")
        texts.append(row["text"].strip())
    if not texts:
        raise TaskError(f"documents file {path} holds no documents; add {{\"text\": \"...\"}} lines")
    return tuple(texts)


def user_document(texts: tuple[str, ...], rng: random.Random, level: int, split: str = "train") -> Document:
    """A user document of ``split`` (by the hash of its text) drawn from ``rng``, cut to its
    first ``2 ** (level - 1)`` paragraphs.

    Raises:
        TaskError: when no document of the file falls in ``split``.
    """
    split = check_split(split)
    chosen = [t for t in texts if split_of_document(t) == split]
    if not chosen:
        raise TaskError(f"none of the {len(texts)} user documents falls in the {split} split (80/10/10 by a hash "
                        "of the text); add more documents")
    parts = re.split(r"\n\s*\n", rng.choice(chosen))
    return Document("\n\n".join(parts[: paragraphs(check_level(level))]), level)
