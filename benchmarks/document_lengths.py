"""How long spell-documents' synthetic documents are, per level, and how the splits fall.

For each level (``2 ** (L - 1)`` paragraphs) it draws ``--documents`` training documents
with a fixed seed and reports their words and their tokens under the embedded model's
tokenizer (SmolLM2-135M-Instruct; the length a seat's prompt adds), and, over ``--draws``
raw draws, the share of documents in each split (80/10/10 by a hash of the text) and
whether any draw repeated. Nothing is timed.

Usage: python benchmarks/document_lengths.py > docs/document_lengths.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys

from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

from sparring.arenas.builtin.documents import (
    LEVELS,
    document_key,
    draw_document,
    make_document,
    paragraphs,
    split_of_document,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=20, help="training documents measured per level")
    parser.add_argument("--draws", type=int, default=2000, help="raw draws per level for the split shares")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    from sparring.agents.embedded import embedded_model_path

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_path(quiet=True)))
    levels = []
    for level in range(LEVELS[0], LEVELS[1] + 1):
        rng = random.Random(level)
        docs = [draw_document(rng, level) for _ in range(args.documents)]
        words = [d.words for d in docs]
        tokens = [len(tokenizer(d.text, add_special_tokens=False)["input_ids"]) for d in docs]
        raw = random.Random(1000 + level)
        texts = [make_document(raw, level).text for _ in range(args.draws)]
        splits = [split_of_document(t) for t in texts]
        levels.append({
            "level": level, "paragraphs": paragraphs(level),
            "words": {"mean": statistics.mean(words), "min": min(words), "max": max(words)},
            "tokens": {"mean": statistics.mean(tokens), "min": min(tokens), "max": max(tokens)},
            "draws": args.draws, "distinct": len({document_key(t) for t in texts}),
            "split_share": {s: splits.count(s) / len(splits) for s in ("train", "validation", "test")},
        })
        print(f"level {level}: {levels[-1]['tokens']['mean']:.0f} tokens", file=sys.stderr)
    print(json.dumps({"command": "python benchmarks/document_lengths.py", "documents": args.documents,
                      "tokenizer": "SmolLM2-135M-Instruct (embedded)", "levels": levels, "machine": machine()},
                     indent=1))


if __name__ == "__main__":
    main()
