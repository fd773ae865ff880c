"""The README's main job: train LeNet-5 on MNIST and print its test accuracy.

Run ``python -m lamina.quickstart`` (needs nothing but lamina: it uses the MNIST subset shipped
inside the package unless ``--data PATH`` points at a full ``mnist.npz``). The last line printed
is ``test accuracy: NN.NN%``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import lamina as lm
from lamina import nn
from lamina.data import DataLoader, TensorDataset


def _to_inputs(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) scaled to [0, 1] and standardised."""
    return ((x.astype(np.float32) / 255.0 - 0.1307) / 0.3081)[:, None]


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y``."""
    model.eval()
    correct = 0
    with lm.no_grad():
        for i in range(0, len(x), batch_size):
            logits = model(lm.tensor(x[i:i + batch_size]))
            correct += int(np.sum(logits._data.argmax(axis=1) == y[i:i + batch_size]))
    return correct / len(x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lamina.quickstart", description=__doc__)
    parser.add_argument("--data", help="path to a full mnist.npz (default: the embedded subset)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    lm.manual_seed(args.seed)
    try:
        if args.data:
            (x_train, y_train), (x_test, y_test) = lm.datasets.mnist(path=args.data)
        else:
            (x_train, y_train), (x_test, y_test) = lm.datasets.mnist(subset="small")
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    x_train, x_test = _to_inputs(x_train), _to_inputs(x_test)
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    print(f"MNIST: {len(x_train)} training and {len(x_test)} test images")

    model = lm.models.lenet5()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = lm.optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size,
                        shuffle=True)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
        accuracy = evaluate(model, x_test, y_test)
        print(f"epoch {epoch}/{args.epochs}  loss {total / len(x_train):.4f}  "
              f"test accuracy {100 * accuracy:.2f}%  ({time.perf_counter() - start:.1f} s)")
    print(f"test accuracy: {100 * evaluate(model, x_test, y_test):.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
