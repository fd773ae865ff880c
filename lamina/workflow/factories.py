"""The built-in factories that configs name: models, the loss and the callbacks.

Each is registered in :mod:`lamina.workflow.config`; its keyword arguments are the keys its
config table allows, and its defaults give the value types the config is checked against.
Arguments after ``*`` are supplied by the runner (from the data or the output directory), never
by a config.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lamina import nn

_MNIST_SHAPE = (1, 28, 28)


def lenet5(classic: bool = False, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """LeNet-5 (LeCun et al. 1998) for ``1x28x28`` images and 10 classes.

    Args:
        classic: the paper's network (scaled tanh, trainable subsampling, C3 connection table)
            instead of the modern variant (ReLU, max-pooling).
        input_shape: one sample's shape, from the data; must be ``(1, 28, 28)``.
        num_classes: the number of classes, from the data; must be 10.

    Returns:
        ``lamina.models.lenet5(classic=classic)``.

    Raises:
        ValueError: the data does not have the shape or the number of classes LeNet-5 takes.
    """
    from lamina import models

    if tuple(input_shape) != _MNIST_SHAPE:
        raise ValueError(
            f"lenet5 takes 1x28x28 images (input shape {_MNIST_SHAPE}); the data gives samples "
            f"of shape {tuple(input_shape)}: use name = \"mlp\" for other inputs"
        )
    if num_classes != 10:
        raise ValueError(f"lenet5 has 10 outputs; the data has {num_classes} classes")
    return models.lenet5(classic=classic)


def mlp(
    hidden: tuple[int, ...] | list[int] = (128,),
    sizes: list[int] | None = None,
    activation: str = "relu",
    dropout: float = 0.0,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
) -> nn.Module:
    """A fully connected network (notes ch 5) sized to the data.

    The layer sizes are ``[prod(input_shape), *hidden, num_classes]``, or ``sizes`` when given
    (its first and last entries must then match the data). Inputs with more than one axis (images)
    are flattened by a leading ``nn.Flatten()``, which is saved with the model.

    Args:
        hidden: the hidden layers' widths.
        sizes: all layer sizes, input and output included (overrides ``hidden``).
        activation: ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"leaky_relu"`` or ``"swish"``.
        dropout: dropout probability after each hidden activation.
        input_shape: one sample's shape, from the data.
        num_classes: the number of classes, from the data.

    Returns:
        The network: ``lamina.models.mlp(...)``, after ``nn.Flatten()`` for images.

    Raises:
        ValueError: ``sizes`` disagrees with the data, or a width is not a positive integer.
    """
    from lamina import models

    features = math.prod(input_shape)
    if sizes is None:
        sizes = [features, *hidden, num_classes]
    else:
        sizes = list(sizes)
        if len(sizes) < 2 or sizes[0] != features or sizes[-1] != num_classes:
            raise ValueError(
                f"mlp sizes={sizes} must start with the {features} input features and end with "
                f"the {num_classes} classes of the data (or give hidden = [...] instead)"
            )
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"mlp layer sizes must be positive integers, received {sizes}")
    network = models.mlp(sizes, activation=activation, dropout=dropout)
    if len(input_shape) == 1:
        return network
    layers = list(network) if isinstance(network, nn.Sequential) else [network]
    return nn.Sequential(nn.Flatten(), *layers)


def vgg(
    widths: tuple[int, ...] | list[int] = (16, 32),
    convs_per_block: int = 2,
    batch_norm: bool = True,
    dropout: float = 0.0,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
) -> nn.Module:
    """A small VGG-style CNN (Simonyan and Zisserman 2015) for (C, H, W) images: per width w,
    ``convs_per_block`` times Conv2d(3x3, padding 1) [+ BatchNorm2d] + ReLU, then
    MaxPool2d(2); then AdaptiveAvgPool2d(1), Flatten, [Dropout], Linear(w_last, classes).

    Args:
        widths: output channels of each block.
        convs_per_block: 3x3 convolutions per block.
        batch_norm: a BatchNorm2d after each convolution (whose bias is then dropped).
        dropout: dropout probability before the classifier.
        input_shape: one sample's shape (C, H, W), from the data.
        num_classes: the number of classes, from the data.

    Raises:
        ValueError: the data are not images, the images are too small for the blocks, or a
            width is not a positive integer.
    """
    if len(input_shape) != 3:
        raise ValueError(f"vgg takes images of shape (C, H, W); the data gives samples of shape "
                         f"{tuple(input_shape)}: use name = \"mlp\"")
    widths = list(widths)
    if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"vgg widths must be positive integers, received {widths}")
    if min(input_shape[1:]) < 2 ** len(widths):
        raise ValueError(f"vgg: {len(widths)} blocks halve the image {len(widths)} times; "
                         f"{input_shape[1]}x{input_shape[2]} images are too small")
    layers: list[nn.Module] = []
    channels = input_shape[0]
    for width in widths:
        for _ in range(convs_per_block):
            layers.append(nn.Conv2d(channels, width, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU())
            channels = width
        layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(channels, num_classes))
    return nn.Sequential(*layers)


def layers(
    layers: list[dict[str, Any]] | None = None,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
) -> nn.Module:
    """A ``Sequential`` of any lamina layers, each a table ``{ type = "Conv2d", args = {...} }``
    (the architecture format of ``lm.save``), e.g.
    ``layers = [{ type = "Flatten" }, { type = "Linear", args = { in_features = 784,
    out_features = 10 } }]``.

    Raises:
        ValueError: an unknown layer or bad arguments, or the network does not map one sample
            of ``input_shape`` to ``num_classes`` outputs.
    """
    import numpy as np

    from lamina.io import build_module
    from lamina.tensor import Tensor, no_grad

    if not layers:
        raise ValueError("layers: give the network as layers = [{ type = ..., args = {...} }]")
    children = [{"name": str(i), **dict(layer)} for i, layer in enumerate(layers)]
    model = build_module({"type": "Sequential", "children": children}, "[model] layers")
    model.eval()
    try:
        with no_grad():
            out = model(Tensor(np.zeros((1, *input_shape), np.float32)))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"[model] layers do not take samples of shape {tuple(input_shape)}: "
                         f"{exc}") from None
    finally:
        model.train()
    if tuple(out.shape) != (1, num_classes):
        raise ValueError(f"[model] layers map one sample to shape {tuple(out.shape[1:])}; the "
                         f"data has {num_classes} classes, so the last layer must give "
                         f"({num_classes},)")
    return model


def cross_entropy(label_smoothing: float = 0.0) -> nn.Module:
    """``nn.CrossEntropyLoss`` on logits and class indices (eq 4.4-4.5).

    Args:
        label_smoothing: the share of probability spread uniformly over the classes.
    """
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)


def early_stopping(
    monitor: str = "val_loss",
    patience: int = 3,
    min_delta: float = 0.0,
    mode: str = "auto",
    restore_best_weights: bool = True,
) -> Any:
    """``lamina.train.EarlyStopping`` (notes sec 8.3): stop when ``monitor`` stops improving."""
    from lamina.train.callbacks import EarlyStopping

    return EarlyStopping(monitor=monitor, mode=mode, patience=patience, min_delta=min_delta,
                         restore_best_weights=restore_best_weights)


def checkpoint(
    filename: str = "checkpoint.safetensors",
    monitor: str = "val_loss",
    save_best_only: bool = True,
    mode: str = "auto",
    *,
    out_dir: Path,
) -> Any:
    """``lamina.train.ModelCheckpoint`` writing ``filename`` inside the run's output directory."""
    from lamina.train.callbacks import ModelCheckpoint

    return ModelCheckpoint(Path(out_dir) / filename, monitor=monitor,
                           save_best_only=save_best_only, mode=mode)


def csv_logger(filename: str = "log.csv", *, out_dir: Path) -> Any:
    """``lamina.train.CSVLogger``: a row per epoch, written while training runs."""
    from lamina.train.callbacks import CSVLogger

    return CSVLogger(Path(out_dir) / filename)
