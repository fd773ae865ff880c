"""The global generator's torch-style helpers (lamina/random.py): initial_seed, seed,
get_rng_state/set_rng_state at the top level (lm.Generator: tests/test_creation.py)."""

from __future__ import annotations

import lamina as lm


def test_seed_helpers_and_state_round_trip():
    lm.manual_seed(5)
    assert lm.initial_seed() == 5
    seed = lm.seed()
    assert lm.initial_seed() == seed and seed >= 0
    state = lm.get_rng_state()
    a = lm.randn(3).tolist()
    lm.set_rng_state(state)
    assert lm.randn(3).tolist() == a
