"""Training: the loop, held-out evaluation and selection, checkpoints, algorithms, stabilisers, guard."""
