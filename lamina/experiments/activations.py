"""Activation functions and the vanishing gradient (notes chapter 9, eq 9.1-9.5).

Claim: in a 10-layer MLP at initialisation, the gradient reaching the first layers vanishes with
the sigmoid (eq 9.1: its derivative is at most 1/4, and the backward pass multiplies one such
factor per layer) but not with tanh, ReLU, leaky ReLU or swish (eq 9.2-9.5); ReLU units that
output 0 for every input ("dead" units, whose gradient is 0) are counted, leaky ReLU has none.

Set-up. ``lm.models.mlp([784] + [width] * 9 + [10], activation=...)``: ten Linear layers. Each
network starts from the initialisation suited to its activation, ``W ~ N(0, gain^2 / fan_in)``
with PyTorch's gains (``nn.init.calculate_gain``: 1 for sigmoid, 5/3 for tanh, sqrt 2 for ReLU,
sqrt(2 / (1 + 0.01^2)) for leaky ReLU; sqrt 2 for swish, which has no standard gain) and zero
biases, so that the signal neither explodes nor dies in the forward pass; the sigmoid's gradient
vanishes all the same. One batch of MNIST images is pushed through, the cross-entropy (eq 4.5)
back-propagated, and the Frobenius norm of each layer's weight gradient measured (averaged over
several seeds). A ReLU unit is dead on the batch when its output is 0 for every image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.experiments import common

NAME = "activations"
CLAIM = ("in a 10-layer MLP at initialisation the gradient vanishes towards the input with "
         "sigmoid, not with tanh, ReLU, leaky ReLU or swish; dead ReLUs are counted")

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "swish")
GAINS = {"sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0),
         "leaky_relu": math.sqrt(2.0 / (1.0 + 0.01 ** 2)), "swish": math.sqrt(2.0)}
DEPTH = 10


@dataclass(frozen=True)
class Settings:
    batch: int
    width: int
    seeds: int


SETTINGS = {
    "tiny": Settings(128, 64, 2),
    "quick": Settings(512, 128, 5),
    "full": Settings(1000, 256, 10),
}


def build(activation: str, width: int, rng: np.random.Generator) -> Any:
    """The 10-layer MLP with ``N(0, gain^2 / fan_in)`` weights and zero biases."""
    import lamina as lm

    model = lm.models.mlp([784] + [width] * (DEPTH - 1) + [10], activation=activation)
    for layer in linear_layers(model):
        fan_in = layer.weight.shape[1]
        layer.weight._data[...] = rng.normal(0.0, GAINS[activation] / math.sqrt(fan_in),
                                            layer.weight.shape)
        layer.bias._data[...] = 0.0
    return model


def linear_layers(model: Any) -> list[Any]:
    from lamina import nn

    return [layer for layer in model if isinstance(layer, nn.Linear)]


def gradient_norms(model: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``||dL/dW_l||_F`` for layers l = 1..10 after one backward pass of the cross-entropy."""
    import lamina as lm

    loss = lm.nn.CrossEntropyLoss()(model(lm.tensor(x)), y)
    model.zero_grad()
    loss.backward()
    return np.array([float(np.linalg.norm(layer.weight.grad.numpy()))
                     for layer in linear_layers(model)])


def dead_units(model: Any, x: np.ndarray) -> list[int]:
    """Per hidden layer, the units whose output is 0 for every sample of ``x`` (zero gradient)."""
    import lamina as lm

    counts = []
    h = lm.tensor(x)
    with lm.no_grad():
        for layer in model:
            h = layer(h)
            if type(layer).__name__ in ("ReLU", "LeakyReLU"):
                counts.append(int(np.sum(np.all(h.numpy() == 0.0, axis=0))))
    return counts


def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """Measure per-layer gradient norms and dead units at initialisation.

    Args:
        quick: the ``--quick`` size (well under a minute on 2 cores).
        out: directory for ``activations.png``, or None for no plot.
        seed: the first of the seeds averaged over.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.
    """
    timer = common.Timer()
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    x, y, _, _ = common.mnist_arrays(s.batch, 0, flat=True)
    norms = {name: np.zeros(DEPTH) for name in ACTIVATIONS}
    dead = {name: np.zeros(DEPTH - 1) for name in ("relu", "leaky_relu")}
    with common.progress_bar(len(ACTIVATIONS) * s.seeds, NAME, progress) as bar:
        for name in ACTIVATIONS:
            for k in range(s.seeds):
                rng = common.seed_all(seed + k)
                model = build(name, s.width, rng)
                norms[name] += gradient_norms(model, x, y) / s.seeds
                if name in dead:
                    dead[name] += np.array(dead_units(model, x)) / s.seeds
                bar.update(1)

    ratio = {name: float(norms[name][0] / norms[name][-1]) for name in ACTIVATIONS}
    others = [name for name in ACTIVATIONS if name != "sigmoid"]
    numbers = {
        "grad_norm_per_layer": {name: norms[name].tolist() for name in ACTIVATIONS},
        "first_to_last_layer_ratio": ratio,
        "dead_relu_units_per_layer": dead["relu"].tolist(),
        "dead_relu_units_total": float(dead["relu"].sum()),
        "dead_relu_fraction": float(dead["relu"].sum() / ((DEPTH - 1) * s.width)),
        "dead_leaky_relu_units_total": float(dead["leaky_relu"].sum()),
        "width": s.width,
        "batch": s.batch,
    }
    checks = {
        "sigmoid: the first layer's gradient norm is below 1/1000 of the last layer's":
            ratio["sigmoid"] < 1e-3,
        "tanh, ReLU, leaky ReLU, swish: the first layer's gradient norm is above 1/10 of the "
        "last layer's": all(ratio[name] > 0.1 for name in others),
        "leaky ReLU has no dead units (its slope is never 0)":
            dead["leaky_relu"].sum() == 0,
    }
    conclusion = (
        "first-layer / last-layer weight-gradient norm at initialisation: "
        + ", ".join(f"{name} {ratio[name]:.2g}" for name in ACTIVATIONS)
        + f". With the sigmoid the gradient shrank by {1 / ratio['sigmoid']:.3g}x over "
        f"{DEPTH} layers (about {ratio['sigmoid'] ** (-1 / (DEPTH - 1)):.2f}x per layer, "
        f"sigma' <= 1/4); the others kept it within a factor "
        f"{max(max(ratio[n], 1 / ratio[n]) for n in others):.2g}. Dead ReLU units on "
        f"{s.batch:,} images: {dead['relu'].sum():.3g} of {(DEPTH - 1) * s.width:,} "
        f"({100 * numbers['dead_relu_fraction']:.2g}%), more in deeper layers ("
        + ", ".join(f"{v:.2g}" for v in dead["relu"]) + "); leaky ReLU: "
        f"{dead['leaky_relu'].sum():.0f}."
    )
    plot = common.save_figure(out_dir, f"{NAME}.png",
                              lambda fig, axes: _draw(axes, numbers), nrows=2, ncols=2,
                              figsize=(12.0, 8.5),
                              title="Activation functions (eq 9.1-9.5) in a 10-layer MLP")
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, [plot], size, timer, out_dir)


LABELS = {"sigmoid": "sigmoid (9.1)", "tanh": "tanh (9.2)", "relu": "ReLU (9.3)",
          "leaky_relu": "leaky ReLU (9.4)", "swish": "swish (9.5)"}
STYLES = {"sigmoid": "-", "tanh": "-", "relu": "-", "leaky_relu": "--", "swish": "-"}


def _functions(z: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each activation and its derivative on ``z``."""
    sig = 1.0 / (1.0 + np.exp(-z))
    return {
        "sigmoid": (sig, sig * (1 - sig)),
        "tanh": (np.tanh(z), 1 - np.tanh(z) ** 2),
        "relu": (np.maximum(z, 0), (z > 0).astype(float)),
        "leaky_relu": (np.maximum(0.01 * z, z), np.where(z > 0, 1.0, 0.01)),
        "swish": (z * sig, sig + z * sig * (1 - sig)),
    }


def _draw(axes: np.ndarray, numbers: dict[str, Any]) -> None:
    z = np.linspace(-5, 5, 400)
    curves = _functions(z)
    for column, (index, title) in enumerate(((0, "activation functions"),
                                             (1, "their derivatives"))):
        ax = axes[0, column]
        for name in ACTIVATIONS:
            ax.plot(z, curves[name][index], STYLES[name], label=LABELS[name])
        ax.axhline(0, color="gray", linewidth=0.5)
        ax.set_xlabel("z")
        ax.set_ylabel("phi(z)" if index == 0 else "phi'(z)")
        ax.set_title(title)
        ax.set_ylim((-1.5, 3.0) if index == 0 else (-0.3, 1.3))
        ax.legend(fontsize=8)

    ax = axes[1, 0]
    layers = np.arange(1, DEPTH + 1)
    for name in ACTIVATIONS:
        ax.semilogy(layers, numbers["grad_norm_per_layer"][name], "o" + STYLES[name],
                    label=LABELS[name])
    ax.set_xticks(layers)
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel("||dL/dW|| at initialisation")
    ax.set_title("gradient norm per layer")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    hidden = np.arange(1, DEPTH)
    ax.bar(hidden, numbers["dead_relu_units_per_layer"], color="tab:green")
    ax.set_xticks(hidden)
    ax.set_xlabel("hidden layer")
    ax.set_ylabel(f"dead units (of {numbers['width']}), mean over seeds")
    ax.set_title(f"ReLU units dead on all {numbers['batch']} images (leaky ReLU: "
                 f"{numbers['dead_leaky_relu_units_total']:.0f})")
