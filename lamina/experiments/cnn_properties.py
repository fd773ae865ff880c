"""Properties of convolution and pooling, measured (notes chapter 6, eq 6.1-6.8).

Claim: convolution is equivariant to translation (section 6.2.3: shifting the input shifts the
output, exactly, up to rounding) where a fully connected layer is not; max pooling makes the
representation approximately invariant to small translations (6.3), more so for larger pools;
and a convolution needs far fewer parameters and operations than a fully connected layer with
the same input and output (sparse interaction 6.2.1, parameter sharing 6.2.2).

Set-up.

* Equivariance: MNIST digits zero-padded to 40x40 (so shifts of up to 4 pixels move no ink off
  the image), a random ``Conv2d(1, 8, 5, padding=2)`` in float64, shifts ``S`` of 1 to 4 pixels;
  the error is ``||conv(S x) - S conv(x)|| / ||conv(x)||``. The same with a random
  ``Linear(1600, 1600)`` on the flattened image.
* Invariance: detector stage ``ReLU(conv(x))`` (section 6's three stages), then
  ``MaxPool2d(k)`` for k = 1 (no pooling), 2, 4, 8 and a global max; the change
  ``||P(S x) - P(x)|| / ||P(x)||`` for 1-pixel shifts, averaged over the four directions.
* Cost on a 1x28x28 image: LeNet-5's first layer ``Conv2d(1, 6, 5, padding=2)`` (output
  6x28x28 by eq 6.5-6.6) against a ``Linear(784, 4704)`` producing as many outputs and, between
  them, a locally connected layer (5x5 windows, no sharing). Parameters are counted on the
  lamina modules; the inputs each output depends on are counted from the gradient of one
  output with respect to the input (autograd); multiply-adds follow from the shapes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.experiments import common

NAME = "cnn-properties"
CLAIM = ("convolution is translation-equivariant and a dense layer is not; max pooling is "
         "approximately invariant to small shifts; conv needs far fewer parameters and FLOPs")

PAD = 6
SHIFTS = ((0, 1), (1, 0), (2, -1), (-3, 3), (4, -4))
POOLS = (1, 2, 4, 8)


@dataclass(frozen=True)
class Settings:
    images: int
    timing_repeats: int


SETTINGS = {
    "tiny": Settings(8, 2),
    "quick": Settings(32, 5),
    "full": Settings(128, 20),
}


def shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate ``(N, C, H, W)`` images by ``(dy, dx)`` pixels (down, right)."""
    return np.roll(x, (dy, dx), axis=(2, 3))


def _forward(layer: Any, x: np.ndarray) -> np.ndarray:
    import lamina as lm

    with lm.no_grad():
        return layer(lm.tensor(x)).numpy()


def equivariance(images: np.ndarray) -> dict[str, list[float]]:
    """Relative equivariance error of a conv and a dense layer for each shift in SHIFTS."""
    from lamina import nn
    from lamina.nn.conv import Conv2d

    conv = Conv2d(1, 8, 5, padding=2).double()
    side = images.shape[-1]
    dense = nn.Linear(side * side, side * side).double()

    def dense_map(x: np.ndarray) -> np.ndarray:
        return _forward(dense, x.reshape(len(x), -1)).reshape(x.shape)

    out: dict[str, list[float]] = {"conv": [], "dense": []}
    for name, layer in (("conv", lambda x: _forward(conv, x)), ("dense", dense_map)):
        reference = layer(images)
        for dy, dx in SHIFTS:
            moved = layer(shift(images, dy, dx))
            error = np.linalg.norm(moved - shift(reference, dy, dx))
            out[name].append(float(error / np.linalg.norm(reference)))
    out["example"] = [images[0, 0], _forward(conv, images[:1])[0, 0],
                      _forward(conv, shift(images[:1], *SHIFTS[3]))[0, 0],
                      (_forward(conv, shift(images[:1], *SHIFTS[3]))
                       - shift(_forward(conv, images[:1]), *SHIFTS[3]))[0, 0],
                      (dense_map(shift(images[:1], *SHIFTS[3]))
                       - shift(dense_map(images[:1]), *SHIFTS[3]))[0, 0]]
    return out


def invariance(images: np.ndarray) -> dict[str, float]:
    """Mean relative change of the pooled detector output under 1-pixel shifts, per pool."""
    from lamina import nn
    from lamina.nn.conv import Conv2d
    from lamina.nn.pooling import MaxPool2d

    detector = nn.Sequential(Conv2d(1, 8, 5, padding=2), nn.ReLU()).double()
    side = images.shape[-1]
    pools: dict[str, Any] = {f"max {k}x{k}" if k > 1 else "none": (
        MaxPool2d(k) if k > 1 else nn.Identity()) for k in POOLS}
    pools["global max"] = MaxPool2d(side)
    change: dict[str, float] = {}
    features = _forward(detector, images)
    for name, pool in pools.items():
        reference = _forward(pool, features)
        values = []
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            moved = _forward(pool, _forward(detector, shift(images, dy, dx)))
            values.append(np.linalg.norm(moved - reference) / np.linalg.norm(reference))
        change[name] = float(np.mean(values))
    return change


def receptive_field(layer: Any, shape: tuple[int, ...], index: tuple[int, ...],
                    flatten: bool = False) -> int:
    """How many input values one output depends on: nonzeros of d out[index] / d input.

    Args:
        layer: the layer.
        shape: one input's shape, e.g. ``(1, 1, 28, 28)``.
        index: the output element.
        flatten: give the layer the input flattened to ``(1, -1)`` (a dense layer).
    """
    import lamina as lm

    x = lm.tensor(np.random.default_rng(0).normal(size=shape), requires_grad=True)
    out = layer(x.reshape(1, -1) if flatten else x)
    out[index].backward()
    return int(np.count_nonzero(x.grad.numpy()))


def cost(repeats: int) -> dict[str, Any]:
    """Parameters, inputs per output, multiply-adds and forward time: conv vs dense."""
    import lamina as lm
    from lamina.convsize import conv_output_size
    from lamina.nn.conv import Conv2d

    c_in, side, c_out, k = 1, 28, 6, 5
    out_side = conv_output_size(side, k, 1, 2)
    outputs = c_out * out_side * out_side
    conv = Conv2d(c_in, c_out, k, padding=2).double()
    dense = lm.nn.Linear(c_in * side * side, outputs).double()
    batch = np.random.default_rng(0).normal(size=(64, c_in, side, side))
    seconds = {}
    for name, layer, x in (("conv", conv, batch), ("dense", dense, batch.reshape(64, -1))):
        _forward(layer, x)
        start = time.perf_counter()
        for _ in range(repeats):
            _forward(layer, x)
        seconds[name] = (time.perf_counter() - start) / repeats
    return {
        "output_shape": [c_out, out_side, out_side],
        "params": {"conv": sum(p.numpy().size for p in conv.parameters()),
                   "locally connected": outputs * c_in * k * k + outputs,
                   "dense": sum(p.numpy().size for p in dense.parameters())},
        "inputs_per_output": {
            "conv": receptive_field(conv, (1, c_in, side, side), (0, 0, side // 2, side // 2)),
            "dense": receptive_field(dense, (1, c_in, side, side), (0, outputs // 2),
                                     flatten=True)},
        "multiply_adds": {"conv": outputs * c_in * k * k,
                          "locally connected": outputs * c_in * k * k,
                          "dense": outputs * c_in * side * side},
        "forward_ms_batch_64": {name: 1e3 * t for name, t in seconds.items()},
        "formula_params_conv": c_out * (c_in * k * k + 1),
        "formula_params_dense": (c_in * side * side + 1) * outputs,
        "kernel_inputs": c_in * k * k,
        "image_inputs": c_in * side * side,
    }


def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """Measure equivariance, pooling invariance and the cost of conv vs dense layers.

    Args:
        quick: the ``--quick`` size (well under a minute on 2 cores).
        out: directory for ``cnn-properties.png``, or None for no plot.
        seed: seeds the random layers.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.
    """
    timer = common.Timer()
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    common.seed_all(seed)
    x, _, _, _ = common.mnist_arrays(s.images, 0, flat=False)
    images = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
    with common.progress_bar(3, NAME, progress) as bar:
        equi = equivariance(images)
        bar.update(1)
        pooled = invariance(images)
        bar.update(1)
        costs = cost(s.timing_repeats)
        bar.update(1)

    numbers = {
        "shifts": [list(d) for d in SHIFTS],
        "equivariance_error_conv": equi["conv"],
        "equivariance_error_dense": equi["dense"],
        "pooled_change_1px": pooled,
        **{key: value for key, value in costs.items()
           if not key.startswith(("formula", "kernel", "image"))},
    }
    changes = [pooled[name] for name in pooled if name != "global max"]
    params, macs, fields = costs["params"], costs["multiply_adds"], costs["inputs_per_output"]
    checks = {
        "conv: equivariance error below 1e-12 for every shift (float64)":
            max(equi["conv"]) < 1e-12,
        "dense layer: equivariance error above 0.5 for every shift": min(equi["dense"]) > 0.5,
        "max pooling: the change under 1-pixel shifts falls as the pool grows, 2x2 at most "
        "0.85x the unpooled one, global max unchanged": (
            bool(np.all(np.diff(changes) < 0)) and pooled["max 2x2"] < 0.85 * pooled["none"]
            and pooled["global max"] < 1e-12),
        "each conv output depends on kh*kw*C_in = 25 inputs, each dense output on all 784":
            fields["conv"] == costs["kernel_inputs"] and fields["dense"] == costs["image_inputs"],
        "parameter counts match C_out(C_in kh kw + 1) and (784 + 1) 4704":
            params["conv"] == costs["formula_params_conv"]
            and params["dense"] == costs["formula_params_dense"],
    }
    conclusion = (
        f"relative equivariance error over shifts of 1-4 pixels: conv at most "
        f"{max(equi['conv']):.2g}, dense layer at least {min(equi['dense']):.2f}. Relative "
        "change of the pooled detector output under 1-pixel shifts: "
        + ", ".join(f"{name} {value:.3f}" for name, value in pooled.items())
        + f". Input 1x28x28 -> output {'x'.join(map(str, costs['output_shape']))}: conv "
        f"{params['conv']:,} parameters, locally connected (no sharing) "
        f"{params['locally connected']:,}, dense {params['dense']:,} "
        f"({params['dense'] / params['conv']:,.0f}x the conv); each conv output sees "
        f"{fields['conv']} inputs, each dense output {fields['dense']}; multiply-adds conv "
        f"{macs['conv']:,} vs dense {macs['dense']:,} ({macs['dense'] / macs['conv']:.0f}x). "
        f"Forward pass of 64 images on this machine: conv "
        f"{costs['forward_ms_batch_64']['conv']:.2f} ms, dense "
        f"{costs['forward_ms_batch_64']['dense']:.2f} ms."
    )
    plot = common.save_figure(out_dir, f"{NAME}.png",
                              lambda fig, axes: _draw(fig, axes, equi, pooled, costs), nrows=2,
                              ncols=4, figsize=(17.0, 8.0),
                              title="Convolution: equivariance, pooling invariance, sparse "
                                    "interactions and parameter sharing (notes ch. 6)")
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, [plot], size, timer, out_dir)


def _draw(fig: Any, axes: np.ndarray, equi: dict[str, Any], pooled: dict[str, float],
          costs: dict[str, Any]) -> None:
    image, feature, moved_feature, conv_diff, dense_diff = equi["example"]
    dy, dx = SHIFTS[3]
    panels = ((image, "input x (digit padded to 40x40)", "gray_r", None),
              (feature, "conv(x), channel 0", "RdBu", None),
              (moved_feature, f"conv(S x), S = shift by ({dy}, {dx}) px", "RdBu", None),
              (None, "", None, None))
    for ax, (values, title, cmap, _) in zip(axes[0], panels, strict=True):
        if values is None:
            continue
        limit = np.abs(values).max()
        ax.imshow(values, cmap=cmap, vmin=-limit if cmap == "RdBu" else 0, vmax=limit)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = axes[0, 3]
    scale = np.abs(feature).max()
    for values, label in ((conv_diff, "conv"), (dense_diff, "dense")):
        ax.hist(np.abs(values).ravel() / scale + 1e-18, bins=np.logspace(-18, 1, 40),
                histtype="step", linewidth=1.5, label=f"{label}: |f(S x) - S f(x)|")
    ax.set_xscale("log")
    ax.set_xlabel("|difference| / max |conv(x)|  (1e-18 = exactly 0)")
    ax.set_ylabel("pixels")
    ax.set_title("equivariance: conv exact, dense not", fontsize=10)
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    ax.semilogy(range(1, len(SHIFTS) + 1), np.maximum(equi["conv"], 1e-18), "o-",
                label="conv (exact 0 drawn at 1e-18)")
    ax.semilogy(range(1, len(SHIFTS) + 1), equi["dense"], "s-", label="dense")
    ax.set_xticks(range(1, len(SHIFTS) + 1), labels=[f"{a},{b}" for a, b in SHIFTS])
    ax.set_xlabel("shift (dy, dx) in pixels")
    ax.set_ylabel("||f(S x) - S f(x)|| / ||f(x)||")
    ax.set_title("equivariance error (eq 6.4 layer vs dense)", fontsize=10)
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    names = list(pooled)
    ax.bar(range(len(names)), [pooled[n] for n in names], color="tab:purple")
    for i, name in enumerate(names):
        ax.text(i, pooled[name], f"{pooled[name]:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)), labels=names, fontsize=8)
    ax.set_xlabel("pooling after ReLU(conv)")
    ax.set_ylabel("||P(S x) - P(x)|| / ||P(x)||")
    ax.set_title("change under 1-pixel shifts (6.3)", fontsize=10)

    for ax, key, title in ((axes[1, 2], "params", "parameters"),
                           (axes[1, 3], "multiply_adds", "multiply-adds per image")):
        values = costs[key]
        labels = list(values)
        ax.bar(range(len(labels)), [values[k] for k in labels],
               color=["tab:blue", "tab:orange", "tab:red"][:len(labels)])
        ax.set_yscale("log")
        ax.set_xticks(range(len(labels)), labels=labels, fontsize=8)
        for i, k in enumerate(labels):
            ax.text(i, values[k], f"{values[k]:,}", ha="center", va="bottom", fontsize=8)
        ax.set_ylabel(title)
        ax.set_xlabel("layer mapping 1x28x28 to 6x28x28")
        ax.set_title(f"{title} (6.2.1-6.2.2)", fontsize=10)
