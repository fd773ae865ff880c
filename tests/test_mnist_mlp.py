"""The issue's MLP (784-256-256-10, Adam) learns MNIST: loss falls on a subset.

The full 3-epoch run (97.47% test accuracy) is examples/mnist_mlp.py; this is its fast check on
the embedded subset: a few hundred steps must cut the training loss and beat chance clearly.
"""

import numpy as np

import lamina as lm
from lamina import nn


def test_mlp_784_256_256_10_with_adam_loss_goes_down_on_a_subset():
    lm.manual_seed(0)
    (x, y), (x_test, y_test) = lm.datasets.mnist(subset="small")
    x = x[:2000].reshape(2000, -1).astype(np.float32) / 255
    y = y[:2000]
    x_test = x_test.reshape(len(x_test), -1).astype(np.float32) / 255
    model = lm.models.mlp([784, 256, 256, 10])
    optimizer = lm.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    loader = lm.data.DataLoader(lm.data.TensorDataset(x, y), batch_size=64, shuffle=True)
    epoch_losses = []
    for _ in range(3):
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
        epoch_losses.append(total / len(x))
    assert epoch_losses[0] > epoch_losses[1] > epoch_losses[2]
    assert epoch_losses[-1] < 0.5 * epoch_losses[0]
    model.eval()
    with lm.no_grad():
        accuracy = np.mean(model(lm.tensor(x_test)).argmax(axis=1).numpy() == y_test)
    assert accuracy > 0.85
