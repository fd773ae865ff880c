"""Build ``lamina/data/mnist_small.npz``, the class-balanced MNIST subset shipped with lamina.

From the full ``mnist.npz`` (default: ``../shared/data/mnist.npz``, beside the repository root)
it draws, with a fixed seed, ``--train-per-class`` training and ``--test-per-class`` test images of
each digit, keeps them in their original order, and writes them as uint8 images and uint8 labels
in the ``np.savez_compressed`` format. Zip timestamps are fixed, so a rerun writes the same bytes.

Usage::

    python scripts/make_mnist_small.py [--source PATH] [--output PATH] [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"
DEFAULT_OUTPUT = REPO_ROOT / "lamina" / "data" / "mnist_small.npz"
MAX_BYTES = 3_000_000
NUM_CLASSES = 10
_EPOCH = (1980, 1, 1, 0, 0, 0)  # earliest zip timestamp; fixed so the output is reproducible


def select_balanced(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_class`` random samples of each class, sorted (original order kept).

    Args:
        labels: class labels, shape ``(N,)``, values in ``0..9``.
        per_class: how many samples to draw from each class (without replacement).
        rng: the generator that draws them.

    Returns:
        Sorted int64 indices, shape ``(10 * per_class,)``.

    Raises:
        ValueError: a class has fewer than ``per_class`` samples.
    """
    chosen = []
    for digit in range(NUM_CLASSES):
        candidates = np.flatnonzero(labels == digit)
        if len(candidates) < per_class:
            raise ValueError(
                f"select_balanced(per_class={per_class}): class {digit} has only "
                f"{len(candidates)} samples"
            )
        chosen.append(rng.choice(candidates, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def build_subset(
    source: Path, train_per_class: int = 600, test_per_class: int = 100, seed: int = 0
) -> dict[str, np.ndarray]:
    """The subset's arrays: ``x_train``, ``y_train``, ``x_test``, ``y_test`` (all uint8).

    Args:
        source: the full MNIST ``.npz``.
        train_per_class: training images per digit.
        test_per_class: test images per digit.
        seed: seed of the ``np.random.default_rng`` that draws the images (train, then test).

    Returns:
        The four arrays; images have shape ``(10 * per_class, 28, 28)``.
    """
    rng = np.random.default_rng(seed)
    subset = {}
    with np.load(source, allow_pickle=False) as full:
        for split, per_class in (("train", train_per_class), ("test", test_per_class)):
            labels = full[f"y_{split}"]
            index = select_balanced(labels, per_class, rng)
            subset[f"x_{split}"] = full[f"x_{split}"][index].astype(np.uint8)
            subset[f"y_{split}"] = labels[index].astype(np.uint8)
    return subset


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` like ``np.savez_compressed``, with fixed zip timestamps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--train-per-class", type=int, default=600)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.train_per_class * NUM_CLASSES < 5000:
        parser.error("--train-per-class must be >= 500 (the subset keeps >= 5,000 training images)")

    subset = build_subset(args.source, args.train_per_class, args.test_per_class, args.seed)
    write_npz(args.output, subset)
    size = args.output.stat().st_size
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    shapes = ", ".join(f"{name} {array.shape}" for name, array in subset.items())
    print(f"wrote {args.output} ({size:,} bytes, sha256 {digest}): {shapes}")
    if size > MAX_BYTES:
        print(f"error: {size:,} bytes > {MAX_BYTES:,}; lower the per-class counts", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
