"""Fixtures for the experiment tests: run an experiment once per test module, at the tiny size."""

from __future__ import annotations

from pathlib import Path

import pytest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_result(request, tmp_path_factory):
    """The Result of the test module's ``EXPERIMENT`` run with ``tiny=True`` into a temp dir."""
    from lamina import experiments

    name = request.module.EXPERIMENT
    out = tmp_path_factory.mktemp(name.replace("-", "_"))
    return experiments.run(name, out=out, seed=0, progress=False, tiny=True)


@pytest.fixture
def assert_pngs():
    """``assert_pngs(result)``: every plot of ``result`` is a non-trivial PNG (needs matplotlib)."""

    def check(result) -> None:
        pytest.importorskip("matplotlib")
        assert result.plots, "no figure was written"
        for path in result.plots:
            data = Path(path).read_bytes()
            assert data.startswith(PNG_SIGNATURE), path
            assert len(data) > 10_000, f"{path} is suspiciously small ({len(data)} bytes)"

    return check
