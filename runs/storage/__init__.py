"""Run directories, the transcript store and dataset export."""
