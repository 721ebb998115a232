"""The sparring test suite; fixtures live in ``conftest.py``, shared helpers in ``helpers.py``."""

import os

# Idle OpenMP workers sleep instead of spinning. On a busy 2-core machine spinning torch
# threads made the real-model smoke tests 5-15x slower. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
