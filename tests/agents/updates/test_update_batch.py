"""Batching of update samples: mini-batches keep GRPO groups whole."""

from __future__ import annotations

import random

from sparring.agents.updates import GroupSample, SFTSample, minibatches


def test_minibatches_keep_groups_whole_and_cover_the_data() -> None:
    data = [GroupSample([1], [2], None, float(i % 2), group_id=i // 4) for i in range(20)]
    batches = minibatches(data, 3, random.Random(0))
    assert len(batches) == 3 and sorted(map(len, batches)) == [4, 8, 8]
    assert sorted(id(x) for b in batches for x in b) == sorted(id(x) for x in data)
    for batch in batches:
        groups = {s.group_id for s in batch}
        assert sum(1 for s in data if s.group_id in groups) == len(batch)
    assert minibatches(data, 1, random.Random(0)) == [data]
    assert len(minibatches(data, 50, random.Random(0))) == 5  # never more batches than groups
    plain = [SFTSample([1], [2]) for _ in range(5)]
    assert sorted(map(len, minibatches(plain, 2, random.Random(1)))) == [2, 3]
