"""LeNet-5 on MNIST (LeCun et al. 1998: 0.95% test error), modern or classic.

    python examples/mnist_lenet5.py                      # ../shared/data/mnist.npz if present
    python examples/mnist_lenet5.py --data mnist.npz --epochs 12 --classic
    python examples/mnist_lenet5.py --subset small       # the 6,000 images shipped with lamina

Prints per-epoch loss and test accuracy, and saves the learning curve (PNG, with the
matplotlib extra) and a CSV of the history next to ``--out``. Training: Adam with a cosine-
annealed learning rate, random shifts of up to 2 pixels (notes 8.2, data augmentation).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import lamina as lm
from lamina import nn
from lamina.data import DataLoader, TensorDataset, transforms
from lamina.train import CSVLogger, LearningRateScheduler

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


def prepare(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> standardised float32 (N, 1, 28, 28)."""
    return ((x.astype(np.float32) / 255.0 - 0.1307) / 0.3081)[:, None]


class EpochReport(lm.train.Callback):
    """Print one line per epoch with the wall time since the start."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        print(f"epoch {epoch + 1}: loss {logs['loss']:.4f}  test loss {logs['val_loss']:.4f}  "
              f"test accuracy {100 * logs['val_accuracy']:.2f}%  lr {logs.get('lr', 0):.2e}  "
              f"({time.perf_counter() - self.start:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.exists() else None)
    parser.add_argument("--subset", choices=["small"], help="use the embedded subset")
    parser.add_argument("--classic", action="store_true", help="the 1998 architecture")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--shift", type=int, default=2, help="max random shift (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/mnist_lenet5", help="directory for the outputs")
    args = parser.parse_args()

    lm.manual_seed(args.seed)
    if args.subset or not args.data:
        (x, y), (x_test, y_test) = lm.datasets.mnist(subset="small")
    else:
        (x, y), (x_test, y_test) = lm.datasets.mnist(path=args.data)
    x, x_test = prepare(x), prepare(x_test)
    print(f"{len(x)} training / {len(x_test)} test images; "
          f"LeNet-5 ({'classic' if args.classic else 'modern'})")

    model = lm.models.lenet5(classic=args.classic)
    optimizer = lm.optim.Adam(model.parameters(), lr=args.lr)
    schedule = lm.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    augment = transforms.RandomShift(args.shift) if args.shift else None
    train = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True,
                       transform=augment)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    history = lm.fit(model, nn.CrossEntropyLoss(), optimizer, train, val=(x_test, y_test),
                     epochs=args.epochs, metrics=["accuracy"],
                     callbacks=[LearningRateScheduler(schedule), CSVLogger(out / "history.csv"),
                                EpochReport()])
    wall = time.perf_counter() - start
    accuracy = history.history["val_accuracy"][-1]
    try:
        from lamina.plots import plot_learning_curves

        png = plot_learning_curves(history, out / "learning_curves.png",
                                   title=f"LeNet-5 on MNIST ({len(x)} images)")
        print(f"learning curve: {png}")
    except ImportError:
        print("matplotlib not installed: learning curve not drawn (pip install 'lamina[plot]')")
    lm.save(model, out / "lenet5.safetensors")
    print(f"{args.epochs} epochs in {wall:.0f} s; test error {100 * (1 - accuracy):.2f}%")
    print(f"test accuracy: {100 * accuracy:.2f}%")


if __name__ == "__main__":
    main()
