"""Stateless functions on Tensors (PyTorch: ``torch.nn.functional``; also ``lm.nn.functional``).

Each is a thin call of one op in :mod:`lamina.ops`; the math is documented there.
"""

from __future__ import annotations

import numpy as np

from lamina.convsize import as_pair
from lamina.ops import OPS
from lamina.ops.loss import check_reduction
from lamina.random import generator
from lamina.tensor import Tensor, apply, where


def _tensor(x, like: Tensor | None = None) -> Tensor:
    """``x`` itself if a Tensor; else a constant Tensor of it, in ``like``'s floating dtype
    when given (so a float64 NumPy batch does not silently upcast a float32 layer)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and like.dtype.kind == "f" and np.asarray(x).dtype.kind in "fiub":
        return Tensor(x, dtype=like.dtype)
    return Tensor(x)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b (the fully connected layer).

    Args:
        x: input Tensor (or array, converted to ``weight``'s dtype), shape (*, in).
        weight: shape (out, in).
        bias: shape (out,), or None.

    Returns:
        Tensor of shape (*, out).

    Raises:
        ValueError: ``x``'s last dimension is not ``in``.
    """
    if not isinstance(x, Tensor):
        x = _tensor(x, like=weight)
    return apply(OPS["linear"], x, weight, bias)


def linear_relu(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """relu(x W^T + b) as one fused op: the values and gradients of ``relu(linear(x, ...))``
    with one graph node and one array fewer (``nn.Sequential`` uses it for Linear + ReLU).

    Args:
        x: input Tensor (or array, converted to ``weight``'s dtype), shape (*, in).
        weight: shape (out, in).
        bias: shape (out,), or None.

    Returns:
        Tensor of shape (*, out), all entries >= 0.

    Raises:
        ValueError: ``x``'s last dimension is not ``in``.
    """
    if not isinstance(x, Tensor):
        x = _tensor(x, like=weight)
    return apply(OPS["linear_relu"], x, weight, bias)


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(0, x) (eq 9.3). (``inplace`` is accepted; the result is always a new tensor.)"""
    return apply(OPS["relu"], x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """max(negative_slope * x, x) (eq 9.4). (``inplace`` is accepted; the result is new.)"""
    return apply(OPS["leaky_relu"], x, negative_slope=negative_slope)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x) (eq 9.1)."""
    return apply(OPS["sigmoid"], x)


def tanh(x: Tensor) -> Tensor:
    """tanh(x) (eq 9.2)."""
    return apply(OPS["tanh"], x)


def swish(x: Tensor) -> Tensor:
    """x * sigmoid(x) (eq 9.5); PyTorch calls it SiLU."""
    return apply(OPS["swish"], x)


silu = swish


def scaled_tanh(x: Tensor, scale: float = 1.7159, slope: float = 2.0 / 3.0) -> Tensor:
    """LeNet-5's A tanh(S x), A = 1.7159, S = 2/3 (LeCun et al. 1998)."""
    return apply(OPS["scaled_tanh"], x, scale=scale, slope=slope)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """e^x_i / sum_j e^x_j along ``dim`` (computed shifted by the max)."""
    return apply(OPS["softmax"], x, axis=dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log softmax by log-sum-exp along ``dim``."""
    return apply(OPS["log_softmax"], x, axis=dim)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout (Srivastava et al. 2014): zero each element with probability p and
    scale the survivors by 1/(1-p), so the expectation is unchanged and eval is the identity.
    (``inplace`` is accepted; the result is always a new tensor.)"""
    if not 0.0 <= p < 1.0:
        if p == 1.0 and training:
            return x * 0.0
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    keep = generator().random(x.shape, dtype=np.float32) >= p
    scale = np.asarray(1.0 / (1.0 - p), dtype=x.dtype)
    return x * (keep * scale)


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean squared error (eq 4.2)."""
    check_reduction(reduction, "mse_loss")
    return apply(OPS["mse_loss"], input, _as_like(target, input), reduction=reduction)


def l1_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean absolute error (eq 4.3)."""
    check_reduction(reduction, "l1_loss")
    return apply(OPS["l1_loss"], input, _as_like(target, input), reduction=reduction)


def _as_like(target, input: Tensor):
    """A non-Tensor numeric target takes the input's dtype (no silent upcast)."""
    if isinstance(target, Tensor):
        return target
    arr = np.asarray(target)
    return arr.astype(input.dtype) if arr.dtype.kind in "fbiu" else arr


def _check_batch(input: Tensor, target, where: str) -> None:
    n_in, n_t = input.shape[0] if input.ndim else None, np.shape(target)[:1]
    if n_t and n_in is not None and n_t[0] != n_in:
        raise ValueError(f"{where}: input has batch size {n_in} but target has batch size "
                         f"{n_t[0]} (input shape {input.shape}, target shape {np.shape(target)})")


def cross_entropy(input: Tensor, target, weight=None, reduction: str = "mean",
                  label_smoothing: float = 0.0, ignore_index: int = -100,
                  size_average=None, reduce=None) -> Tensor:
    """Cross-entropy of softmax(input) against class indices (N,) or probabilities (N, C)
    (eq 4.4-4.5), by log-sum-exp. As torch: input (N, C, d1, ...) with target (N, d1, ...)
    works per position; index targets equal to ``ignore_index`` add nothing to the loss and
    are not counted by 'mean' (which divides by sum_i w[t_i] over the kept i).
    (``size_average``/``reduce`` are torch's deprecated forms of ``reduction``.)"""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, "cross_entropy")
    _check_batch(input, target, "cross_entropy")
    target = target if isinstance(target, Tensor) else np.asarray(target)
    if not isinstance(target, Tensor) and target.dtype.kind == "f":
        target = target.astype(input.dtype)
    tdtype = target.dtype
    if tdtype.kind not in "iuf":
        raise TypeError(f"cross_entropy: target must hold integer class indices or float "
                        f"probabilities, got dtype {tdtype}")
    if weight is not None:
        weight = np.asarray(weight._data if isinstance(weight, Tensor) else weight,
                            dtype=input.dtype)
    if input.ndim > 2:  # (N, C, d1, ...): each position is a row
        _check_positions(input, target, tdtype, "cross_entropy")
        c = input.shape[1]
        rows = input.movedim(1, -1).reshape(-1, c)
        if tdtype.kind == "f":
            flat = _tensor(target).movedim(1, -1).reshape(-1, c)
        else:
            flat = _array_of(target).reshape(-1)
        out = cross_entropy(rows, flat, weight, reduction, label_smoothing, ignore_index)
        if reduction == "none":
            return out.reshape((input.shape[0],) + tuple(input.shape[2:]))
        return out
    if input.ndim == 1:  # one sample of C classes
        one = (_tensor(target).reshape(1, -1) if tdtype.kind == "f"
               else _array_of(target).reshape(1))
        out = cross_entropy(input.reshape(1, -1), one, weight, reduction, label_smoothing,
                            ignore_index)
        return out.reshape(()) if reduction == "none" else out
    if tdtype.kind in "iu":
        indices = _array_of(target)
        ignored = indices == ignore_index
        if ignored.any():
            return _ignoring(input, indices, ignored, weight, reduction, label_smoothing)
    return apply(OPS["cross_entropy"], input, target, weight=weight, reduction=reduction,
                 label_smoothing=label_smoothing)


def _check_positions(input: Tensor, target, tdtype, where: str) -> None:
    """For input (N, C, d1, ...): an index target must be (N, d1, ...), probabilities the
    input's shape."""
    expected = (input.shape if tdtype.kind == "f"
                else (input.shape[0],) + tuple(input.shape[2:]))
    if tuple(target.shape) != tuple(expected):
        raise ValueError(f"{where}: expected logits of shape (N, C), got {tuple(input.shape)} "
                         f"with a target of shape {tuple(target.shape)} (for input "
                         f"(N, C, d1, ...) the target must be {tuple(expected)})")


def _array_of(x) -> np.ndarray:
    return np.asarray(x._data if isinstance(x, Tensor) else x)


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """torch's deprecated ``size_average``/``reduce`` flags as a ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _ignoring(input: Tensor, indices, ignored, weight, reduction: str,
              label_smoothing: float) -> Tensor:
    """Cross-entropy where the rows whose target is ``ignore_index`` count for nothing: the
    per-row losses (targets of ignored rows replaced by 0) times a 0/1 mask; 'mean' divides
    by the kept rows' total weight."""
    safe = np.where(ignored, 0, indices)
    rows = apply(OPS["cross_entropy"], input, safe, weight=weight, reduction="none",
                 label_smoothing=label_smoothing)
    keep = (~ignored).astype(input.dtype)
    losses = rows * keep
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    denominator = keep.sum() if weight is None else (weight[safe] * keep).sum()
    return losses.sum() / np.asarray(denominator, dtype=input.dtype)


def nll_loss(input: Tensor, target, weight=None, reduction: str = "mean",
             ignore_index: int = -100, size_average=None, reduce=None) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``:
    l_i = -w[t_i] * input[i, t_i]; 'mean' divides by sum_i w[t_i] (N without weights), as
    PyTorch; targets equal to ``ignore_index`` add nothing and are not counted.
    ``cross_entropy(z, t) == nll_loss(log_softmax(z), t)``.

    Shape: input (N, C) float, target (N,) int, weight (C,) -> (N,) for 'none', else ();
    also input (C,) with a 0-d target, and input (N, C, d1, ...) with target (N, d1, ...).

    Raises:
        ValueError: batch sizes differ, or a class index outside [0, C) (not ignore_index).
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, "nll_loss")
    idx = _array_of(target)
    if input.ndim == 1:
        out = nll_loss(input.reshape(1, -1), idx.reshape(1), weight, reduction, ignore_index)
        return out.reshape(()) if reduction == "none" else out
    if input.ndim > 2:
        _check_positions(input, idx, idx.dtype, "nll_loss")
        rows = input.movedim(1, -1).reshape(-1, input.shape[1])
        out = nll_loss(rows, idx.reshape(-1), weight, reduction, ignore_index)
        return out.reshape(idx.shape) if reduction == "none" else out
    if input.ndim != 2:
        raise ValueError(f"nll_loss: expected input of shape (N, C), got {input.shape}")
    _check_batch(input, target, "nll_loss")
    if idx.dtype.kind not in "iu" or idx.shape != input.shape[:1]:
        raise ValueError(f"nll_loss: target must hold integer class indices of shape "
                         f"({input.shape[0]},), got dtype {idx.dtype} and shape {idx.shape}")
    n_classes = input.shape[1]
    ignored = idx == ignore_index
    safe = np.where(ignored, 0, idx)
    if safe.size and (safe.min() < 0 or safe.max() >= n_classes):
        bad = safe[(safe < 0) | (safe >= n_classes)][0]
        raise ValueError(f"nll_loss: target class index {bad} is out of range for {n_classes} "
                         f"classes (expected 0 <= target < {n_classes})")
    picked = -input[np.arange(len(safe)), safe]
    masked = bool(ignored.any())
    if weight is None and not masked:
        if reduction == "none":
            return picked
        return picked.sum() if reduction == "sum" else picked.mean()
    w = (np.ones(len(safe), dtype=input.dtype) if weight is None
         else np.asarray(_array_of(weight), dtype=input.dtype)[safe])
    w = np.where(ignored, 0, w).astype(input.dtype)
    picked = picked * w
    if reduction == "none":
        return picked
    if reduction == "sum":
        return picked.sum()
    return picked.sum() / np.asarray(w.sum(), dtype=input.dtype)


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, pos_weight=None,
                                     reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on logits, stable for any logit (see the op's docstring)."""
    check_reduction(reduction, "binary_cross_entropy_with_logits")
    return apply(OPS["binary_cross_entropy_with_logits"], input, _as_like(target, input),
                 weight=None if weight is None else _as_like(weight, input),
                 pos_weight=None if pos_weight is None else _as_like(pos_weight, input),
                 reduction=reduction)


def flatten(x: Tensor, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default."""
    return x.flatten(start_dim, end_dim)


_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(x: Tensor, padding, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last dims; ``padding`` = (left, right, top, bottom, ...) as PyTorch orders it
    (last dimension first). ``mode``: 'constant' (``value``, default 0), 'reflect' (mirror
    without the edge), 'replicate' (repeat the edge) or 'circular' (wrap around); the last
    three gather the input by index, so gradients add up where an element is reused.

    Raises:
        ValueError: an odd number of pads, more pairs than dims, or an unknown mode.
    """
    if isinstance(mode, (int, float)) and not isinstance(mode, bool):  # lamina's pad(x, p, 0.5)
        mode, value = "constant", mode
    if len(padding) % 2:
        raise ValueError(f"pad: padding needs pairs, got {padding}")
    if len(padding) // 2 > x.ndim:
        raise ValueError(f"pad: {len(padding) // 2} pairs of padding for a tensor of only "
                         f"{x.ndim} dims")
    widths = [(0, 0)] * x.ndim
    for i in range(len(padding) // 2):
        widths[x.ndim - 1 - i] = (int(padding[2 * i]), int(padding[2 * i + 1]))
    if mode == "constant":
        return apply(OPS["pad"], x, pad_width=tuple(widths),
                     value=0.0 if value is None else value)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                         f"got {mode!r}")
    for dim, (left, right) in enumerate(widths):
        if left or right:
            n = x.shape[dim]
            if mode == "reflect" and max(left, right) >= n:
                raise ValueError(f"pad: reflect padding ({left}, {right}) must be smaller than "
                                 f"the dimension's size {n}")
            index = np.pad(np.arange(n), (left, right), mode=_PAD_MODES[mode])
            x = x.index_select(dim, index)
    return x


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
           padding=0) -> Tensor:
    """2-D cross-correlation (eq 6.4), NCHW. Shape: x (N, C_in, H, W), weight
    (C_out, C_in, kh, kw) -> (N, C_out, H_out, W_out), H_out = floor((H + 2p - kh)/s) + 1
    (eq 6.5-6.6)."""
    return apply(OPS["conv2d"], _tensor(x), weight, bias,
                 stride=as_pair(stride, "conv2d", "stride"),
                 padding=as_pair(padding, "conv2d", "padding"))


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Max over kernel_size windows (notes 6.3, output size eq 6.7-6.8); stride defaults to
    kernel_size."""
    k = as_pair(kernel_size, "max_pool2d", "kernel_size")
    s = k if stride is None else as_pair(stride, "max_pool2d", "stride")
    return apply(OPS["max_pool2d"], _tensor(x), kernel_size=k, stride=s,
                 padding=as_pair(padding, "max_pool2d", "padding"))


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Mean over kernel_size windows (padding counts as zeros, as PyTorch's default
    count_include_pad=True); stride defaults to kernel_size."""
    k = as_pair(kernel_size, "avg_pool2d", "kernel_size")
    s = k if stride is None else as_pair(stride, "avg_pool2d", "stride")
    return apply(OPS["avg_pool2d"], _tensor(x), kernel_size=k, stride=s,
                 padding=as_pair(padding, "avg_pool2d", "padding"))


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """Class indices (int, any shape) as one-hot rows: shape (*, num_classes), int64, with a 1
    at each index (``num_classes=-1``: one more than the largest index).

    Raises:
        RuntimeError: a non-integer tensor, a negative index, or one >= num_classes.
    """
    idx = _array_of(tensor)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot: expected an integer (class index) tensor, got dtype "
                           f"{idx.dtype}")
    if idx.size and idx.min() < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and idx.max() >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes "
                           f"({num_classes}), got {int(idx.max())}")
    out = np.zeros(idx.shape + (num_classes,), np.int64)
    np.put_along_axis(out, idx[..., None].astype(np.int64), 1, axis=-1)
    return Tensor._wrap(out)


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def smooth_l1_loss(input: Tensor, target, reduction: str = "mean", beta: float = 1.0,
                   size_average=None, reduce=None) -> Tensor:
    """Smooth L1 (torch's): with d = input - target, 0.5 d^2 / beta where |d| < beta, else
    |d| - 0.5 beta (beta = 0 is L1)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    d = input - _as_like(target, input)
    a = d.abs()
    if beta == 0:
        return _reduce(a, reduction)
    return _reduce(where(a._data < beta, d * d * (0.5 / beta), a - 0.5 * beta), reduction)


def huber_loss(input: Tensor, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss: with d = input - target, 0.5 d^2 where |d| <= delta, else
    delta (|d| - 0.5 delta) (= delta * smooth_l1 with beta = delta)."""
    check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    d = input - _as_like(target, input)
    a = d.abs()
    return _reduce(where(a._data <= delta, d * d * 0.5, (a - 0.5 * delta) * delta), reduction)


def binary_cross_entropy(input: Tensor, target, weight=None, reduction: str = "mean",
                         size_average=None, reduce=None) -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1]:
    -w (t log x + (1 - t) log(1 - x)), each log clamped at -100 as torch does (so x = 0 or 1
    gives a finite loss). For logits use :func:`binary_cross_entropy_with_logits` (stable).

    Raises:
        ValueError: input and target shapes differ, or input outside [0, 1].
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, "binary_cross_entropy")
    target = _as_like(target, input)
    if np.shape(_array_of(target)) != input.shape:
        raise ValueError(f"binary_cross_entropy: target shape {np.shape(_array_of(target))} "
                         f"must equal the input shape {input.shape}")
    x = input._data
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1] (use "
                         "binary_cross_entropy_with_logits for logits)")
    log_x, log_1mx = _clamped_log(input), _clamped_log(1.0 - input)
    losses = -(target * log_x + (1.0 - target) * log_1mx)
    if weight is not None:
        losses = losses * _as_like(weight, input)
    return _reduce(losses, reduction)


def _clamped_log(p: Tensor) -> Tensor:
    """max(log p, -100) for p in [0, 1]; where p = 0 the value is -100 with gradient 0 (no
    0/0 = nan from log's derivative, e.g. for a sigmoid output saturated at 0 or 1)."""
    positive = p._data > 0
    if positive.all():
        return p.log().clamp(min=-100.0)
    safe = where(positive, p, np.ones((), p.dtype)).log().clamp(min=-100.0)
    return where(positive, safe, np.full((), -100.0, p.dtype))


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (torch's)."""
    scaled = x * beta
    smooth = (scaled.clamp(max=threshold)).exp().log1p() / beta
    return where(scaled._data > threshold, x, smooth)


def logsigmoid(x: Tensor) -> Tensor:
    """log sigmoid(x) = -softplus(-x), computed stably as min(x, 0) - log(1 + e^-|x|)."""
    return x.clamp(max=0.0) - (-x.abs()).exp().log1p()


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha (e^x - 1)."""
    return where(x._data > 0, x, (x.clamp(max=0.0).expm1()) * alpha)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clamped into [min_val, max_val]."""
    return x.clamp(min_val, max_val)


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    """min(max(0, x), 6)."""
    return x.clamp(0.0, 6.0)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """input / max(||input||_p along dim, eps) (unit vectors along ``dim``)."""
    return input / input.norm(p, dim=dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 x2) / max(||x1|| ||x2||, eps) along ``dim``."""
    dot = (x1 * x2).sum(dim=dim)
    return dot / (x1.norm(2, dim=dim) * x2.norm(2, dim=dim)).clamp(min=eps)
