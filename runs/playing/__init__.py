"""Playing matches on real models: locally and on Ray workers."""
