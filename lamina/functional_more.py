"""Functional forms of the normalisation, embedding, activation, loss, convolution, pooling and
resampling layers added after the notes' models (PyTorch ``torch.nn.functional`` names and
argument names). Re-exported by :mod:`lamina.functional`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from lamina.convsize import as_pair
from lamina.ops import OPS
from lamina.ops.loss import check_reduction, class_rows
from lamina.random import generator
from lamina.tensor import Tensor, apply

__all__ = [
    "batch_norm", "layer_norm", "group_norm", "dropout1d", "dropout2d", "embedding", "gelu",
    "elu", "selu", "celu", "softplus", "mish", "hardswish", "hardsigmoid", "prelu",
    "logsigmoid", "softsign", "threshold", "binary_cross_entropy", "huber_loss",
    "smooth_l1_loss", "kl_div", "cross_entropy_ignore", "nll_loss_ignore", "conv1d",
    "conv2d_general", "conv_transpose2d",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "max_pool1d", "avg_pool1d", "interpolate",
]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _t(x, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if like is not None and np.asarray(x).dtype.kind in "fiub":
        return Tensor(x, dtype=like.dtype)
    return Tensor(x)


def _arr(x):
    return None if x is None else (x._data if isinstance(x, Tensor) else np.asarray(x))


# --------------------------------------------------------------------------- normalisation
def batch_norm(input: Tensor, running_mean, running_var, weight=None, bias=None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over axis 1 of (N, C, *) (see :func:`lamina.ops.norm.batch_norm`);
    with ``training`` the batch statistics are used and the running ones (if given) updated in
    place with weight ``momentum``."""
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are needed when not "
                         "training")
    return apply(OPS["batch_norm"], _t(input), weight, bias, running_mean=_arr(running_mean),
                 running_var=_arr(running_var), training=training, momentum=momentum, eps=eps)


def layer_norm(input: Tensor, normalized_shape, weight=None, bias=None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the trailing ``normalized_shape`` axes."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    input = _t(input)
    if tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: expected an input whose last dimensions are {shape}, "
                         f"got shape {input.shape}")
    return apply(OPS["layer_norm"], input, weight, bias, normalized_ndim=len(shape), eps=eps)


def group_norm(input: Tensor, num_groups: int, weight=None, bias=None,
               eps: float = 1e-5) -> Tensor:
    """Group normalisation of (N, C, *) with ``num_groups`` groups of channels."""
    return apply(OPS["group_norm"], _t(input), weight, bias, num_groups=num_groups, eps=eps)


def _feature_dropout(x: Tensor, p: float, training: bool, where: str) -> Tensor:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{where}: dropout probability has to be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    mask_shape = x.shape[:2] + (1,) * (x.ndim - 2)
    keep = generator().random(mask_shape) >= p
    return x * (keep * np.asarray(1.0 / (1.0 - p), dtype=x.dtype))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels input[n, c] with probability p, scaling the rest by 1/(1-p).

    Like PyTorch 2.13: a 3-D input is read as (N, C, L) (channel-wise 1-D dropout, with a
    warning), and other ranks than 3 and 4 warn and mask each (N, C) entry, so a 2-D input gets
    element-wise dropout.
    """
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
                      f"deprecated; use dropout instead (dropout2d expects 3-D or 4-D inputs)",
                      stacklevel=2)
    elif input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L)", stacklevel=2)
    return _feature_dropout(input, p, training, "dropout2d")


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels of (N, C, L) (or (C, L)) with probability p."""
    if input.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2-D or 3-D input, got shape {input.shape}")
    if input.ndim == 2:
        return _feature_dropout(input.reshape(1, *input.shape), p, training,
                                "dropout1d").reshape(input.shape)
    return _feature_dropout(input, p, training, "dropout1d")


def embedding(input, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` at the integer indices ``input``: (*) -> (*, embedding_dim)."""
    idx = np.asarray(_arr(input))
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    return apply(OPS["embedding"], weight, idx, padding_idx=padding_idx)


# --------------------------------------------------------------------------- activations
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x) (exact, erf), or its tanh approximation with ``approximate='tanh'``."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(OPS["gelu"], _t(input), approximate=approximate)


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise."""
    return apply(OPS["elu"], _t(input), alpha=alpha)


def selu(input: Tensor) -> Tensor:
    """scale * elu(x, alpha) with Klambauer et al.'s self-normalising constants."""
    return apply(OPS["elu"], _t(input), alpha=SELU_ALPHA, scale=SELU_SCALE)


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """max(0, x) + min(0, alpha (e^(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return apply(OPS["elu"], _t(input), alpha=alpha, input_scale=1.0 / alpha)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta (x itself where beta x > threshold)."""
    return apply(OPS["softplus"], _t(input), beta=beta, threshold=threshold)


def mish(input: Tensor) -> Tensor:
    """x tanh(softplus(x))."""
    return apply(OPS["mish"], _t(input))


def hardswish(input: Tensor) -> Tensor:
    """x relu6(x + 3) / 6."""
    return apply(OPS["hardswish"], _t(input))


def hardsigmoid(input: Tensor) -> Tensor:
    """relu6(x + 3) / 6."""
    return apply(OPS["hardsigmoid"], _t(input))


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x if x > 0 else a x, one slope per channel (axis 1) or one shared."""
    return apply(OPS["prelu"], _t(input), weight)


def logsigmoid(input: Tensor) -> Tensor:
    """log sigmoid(x), stable for any x."""
    return apply(OPS["log_sigmoid"], _t(input))


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return apply(OPS["softsign"], _t(input))


def threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    """x where x > threshold, else value."""
    return apply(OPS["threshold"], _t(input), threshold=threshold, value=value)


# --------------------------------------------------------------------------- losses
def _like(target, input: Tensor):
    if isinstance(target, Tensor):
        return target
    arr = np.asarray(target)
    return arr.astype(input.dtype) if arr.dtype.kind in "fbiu" else arr


def binary_cross_entropy(input: Tensor, target, weight=None, reduction: str = "mean") -> Tensor:
    """-w (y log p + (1 - y) log(1 - p)) for probabilities p (logs clamped at -100)."""
    check_reduction(reduction, "binary_cross_entropy")
    return apply(OPS["binary_cross_entropy"], input, _like(target, input),
                 weight=None if weight is None else _arr(_like(weight, input)),
                 reduction=reduction)


def huber_loss(input: Tensor, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - delta / 2), d = input - target."""
    check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    return apply(OPS["huber_loss"], input, _like(target, input), reduction=reduction,
                 delta=delta)


def smooth_l1_loss(input: Tensor, target, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2 (L1 for beta = 0)."""
    check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    if beta == 0:
        return apply(OPS["l1_loss"], input, _like(target, input), reduction=reduction)
    return apply(OPS["huber_loss"], input, _like(target, input), reduction=reduction,
                 delta=beta, smooth_l1=True)


def kl_div(input: Tensor, target, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) pointwise: t (log t - x); reduction also 'batchmean'."""
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"kl_div: reduction must be one of ('mean', 'sum', 'none', "
                         f"'batchmean'), got {reduction!r}")
    return apply(OPS["kl_div"], input, _like(target, input), reduction=reduction,
                 log_target=log_target)


def _index_array(target):
    arr = target._data if isinstance(target, Tensor) else np.asarray(target)
    return arr if arr.dtype.kind in "iu" else None


def _class_weight(weight, dtype):
    return None if weight is None else np.asarray(getattr(weight, "_data", weight), dtype)


def _fused_cross_entropy(input: Tensor, target, weight, reduction: str,
                         label_smoothing: float) -> Tensor:
    """The fused ``cross_entropy`` op on (N, C) logits (what ``F.cross_entropy`` calls)."""
    shape = np.shape(getattr(target, "_data", target))
    if input.ndim and shape[:1] and shape[0] != input.shape[0]:
        raise ValueError(f"cross_entropy: input has batch size {input.shape[0]} but target has "
                         f"batch size {shape[0]} (input shape {input.shape}, target shape "
                         f"{shape})")
    if not isinstance(target, Tensor):
        target = np.asarray(target)
        if target.dtype.kind == "f":
            target = target.astype(input.dtype)
    if target.dtype.kind not in "iuf":
        raise TypeError(f"cross_entropy: target must hold integer class indices or float "
                        f"probabilities, got dtype {target.dtype}")
    return apply(OPS["cross_entropy"], input, target, weight=_class_weight(weight, input.dtype),
                 reduction=reduction, label_smoothing=label_smoothing)


def cross_entropy_ignore(input, target, weight=None, reduction: str = "mean",
                         label_smoothing: float = 0.0, ignore_index: int = -100) -> Tensor:
    """Cross-entropy with PyTorch's ``ignore_index`` and (N, C, *) inputs: the fused
    :func:`lamina.functional.cross_entropy` when no target is ignored and the input is 2-D,
    else log_softmax + the ``nll_loss`` op (+ the smoothing term), the same values."""
    check_reduction(reduction, "CrossEntropyLoss")
    index = _index_array(target)
    if (index is not None and weight is None and not label_smoothing
            and isinstance(input, Tensor) and class_rows(input._data, index)):
        # the common case: the op skips the ignored rows itself (one pass with the kernel)
        return apply(OPS["cross_entropy"], input, index, reduction=reduction,
                     ignore_index=ignore_index)
    if index is None or (input.ndim == 2 and not np.any(index == ignore_index)):
        return _fused_cross_entropy(input, target, weight, reduction, label_smoothing)
    w = _class_weight(weight, input.dtype)
    c = input.shape[1]
    logq = apply(OPS["log_softmax"], input, axis=1)
    nll = apply(OPS["nll_loss"], logq, index, weight=w, ignore_index=ignore_index,
                reduction=reduction)
    if not label_smoothing:
        return nll
    keep = index != ignore_index
    shape = (1, c) + (1,) * (input.ndim - 2)
    weighted = logq if w is None else logq * Tensor(w.reshape(shape))
    smooth = -weighted.sum(axis=1) * Tensor(keep.astype(input.dtype))
    if reduction == "none":
        total = smooth
    elif reduction == "sum":
        total = smooth.sum()
    else:
        safe = np.where(keep, index, 0)
        count = keep.sum() if w is None else (w[safe] * keep).sum()
        total = smooth.sum() / float(count)
    return nll * (1 - label_smoothing) + total * (label_smoothing / c)


def nll_loss_ignore(input: Tensor, target, weight=None, reduction: str = "mean",
                    ignore_index: int = -100) -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, *) at integer class
    indices (N,) / (N, *), skipping ``ignore_index`` (see :func:`lamina.ops.loss_more.nll_loss`).
    """
    check_reduction(reduction, "nll_loss")
    index = _index_array(target)
    if index is None:
        raise ValueError(f"nll_loss: target must hold integer class indices, got dtype "
                         f"{np.asarray(getattr(target, '_data', target)).dtype}")
    return apply(OPS["nll_loss"], input, index, weight=_class_weight(weight, input.dtype),
                 ignore_index=ignore_index, reduction=reduction)


# --------------------------------------------------------------------------- convolution
def conv1d(input: Tensor, weight: Tensor, bias=None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-D convolution of (N, C_in, L) with weight (C_out, C_in / groups, k): the 2-D
    convolution of (N, C_in, 1, L) with a (1, k) kernel.

    L_out = floor((L + 2 padding - dilation (k - 1) - 1) / stride) + 1.
    """
    input = _t(input, weight)
    if input.ndim != 3:
        raise ValueError(f"conv1d: expected a 3-D input (N, C, L), got shape {input.shape}")
    n, c, length = input.shape
    out = conv2d_general(input.reshape(n, c, 1, length),
                         weight.reshape(*weight.shape[:2], 1, weight.shape[2]), bias,
                         (1, _one(stride)), (0, _one(padding)), (1, _one(dilation)), groups)
    return out.reshape(n, out.shape[1], out.shape[3])


def _one(value) -> int:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise TypeError(f"expected an int or a 1-tuple, got {value!r}")
        value = value[0]
    return int(value)


def _dilate(x: Tensor, factor: tuple[int, int], axes: tuple[int, int]) -> Tensor:
    """Insert factor - 1 zeros between neighbours along ``axes`` (a differentiable scatter:
    stack with zero slices, reshape, crop)."""
    for axis, f in zip(axes, factor, strict=True):
        if f == 1:
            continue
        n = x.shape[axis]
        zeros = Tensor(np.zeros(x.shape, x.dtype))
        stacked = apply(OPS["stack"], x, *([zeros] * (f - 1)), axis=axis + 1)
        merged = stacked.reshape(*x.shape[:axis], n * f, *x.shape[axis + 1:])
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, (n - 1) * f + 1)
        x = merged[tuple(index)]
    return x


def conv2d_general(input: Tensor, weight: Tensor, bias=None, stride=1, padding=0,
                   dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution with dilation and groups, from the fast ``conv2d`` op: a dilated
    kernel is the kernel with dilation - 1 zeros between taps (so d (k - 1) + 1 wide), and
    ``groups`` splits the channels into independent convolutions whose outputs are joined.

    Shape: input (N, C_in, H, W); weight (C_out, C_in / groups, kh, kw) -> (N, C_out, H_out,
    W_out), H_out = floor((H + 2p - d (kh - 1) - 1) / s) + 1.
    """
    input = _t(input, weight)
    stride, padding = as_pair(stride, "conv2d", "stride"), as_pair(padding, "conv2d", "padding")
    dilation = as_pair(dilation, "conv2d", "dilation")
    if input.ndim != 4:
        raise ValueError(f"conv2d: expected a 4-D input (N, C, H, W), got shape {input.shape}")
    c_in, c_out = input.shape[1], weight.shape[0]
    if groups < 1 or c_in % groups or c_out % groups or weight.shape[1] * groups != c_in:
        raise ValueError(f"conv2d: input with {c_in} channels, weight {weight.shape} and "
                         f"groups={groups} do not fit (need C_in = groups * weight.shape[1] "
                         f"and C_out divisible by groups)")
    w = _dilate(weight, dilation, (2, 3))
    if groups == 1:
        return apply(OPS["conv2d"], input, w, bias, stride=stride, padding=padding)
    per_in, per_out = c_in // groups, c_out // groups
    outs = []
    for g in range(groups):
        b = None if bias is None else bias[g * per_out:(g + 1) * per_out]
        outs.append(apply(OPS["conv2d"], input[:, g * per_in:(g + 1) * per_in],
                          w[g * per_out:(g + 1) * per_out], b, stride=stride, padding=padding))
    return apply(OPS["concatenate"], *outs, axis=1)


def conv_transpose2d(input: Tensor, weight: Tensor, bias=None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 2-D convolution (the gradient of conv2d with respect to its input): the
    input with stride - 1 zeros between pixels, padded by d (k - 1) - p (plus
    ``output_padding`` at the bottom/right), convolved with the flipped kernel whose in/out
    channels are swapped.

    Shape: input (N, C_in, H, W); weight (C_in, C_out / groups, kh, kw) -> (N, C_out, H_out,
    W_out), H_out = (H - 1) s - 2p + d (kh - 1) + output_padding + 1.
    """
    input = _t(input, weight)
    s = as_pair(stride, "conv_transpose2d", "stride")
    p = as_pair(padding, "conv_transpose2d", "padding")
    op_ = as_pair(output_padding, "conv_transpose2d", "output_padding")
    d = as_pair(dilation, "conv_transpose2d", "dilation")
    if input.ndim != 4:
        raise ValueError(f"conv_transpose2d: expected a 4-D input (N, C, H, W), got shape "
                         f"{input.shape}")
    c_in = input.shape[1]
    if weight.shape[0] != c_in or c_in % groups:
        raise ValueError(f"conv_transpose2d: input with {c_in} channels does not fit weight "
                         f"{weight.shape} with groups={groups}")
    if any(o >= max(st, dl) for o, st, dl in zip(op_, s, d, strict=True)):
        raise ValueError(f"conv_transpose2d: output_padding {op_} must be smaller than stride "
                         f"{s} or dilation {d}")
    kh, kw = weight.shape[2:]
    x = _dilate(input, s, (2, 3))
    pads = []
    for k, pp, dl, o in zip((kh, kw), p, d, op_, strict=True):
        lo = dl * (k - 1) - pp
        pads.append((lo, lo + o))
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        crop = [slice(None), slice(None)]
        for lo, hi in pads:
            crop.append(slice(max(-lo, 0), x.shape[len(crop)] - max(-hi, 0) or None))
        x = x[tuple(crop)]
        pads = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    x = apply(OPS["pad"], x, pad_width=((0, 0), (0, 0), *pads))
    per_in = c_in // groups
    flipped = weight[:, :, ::-1, ::-1]
    w = apply(OPS["concatenate"], *[
        flipped[g * per_in:(g + 1) * per_in].transpose(0, 1) for g in range(groups)], axis=0) \
        if groups > 1 else flipped.transpose(0, 1)
    return conv2d_general(x, w, bias, 1, 0, d, groups)


# --------------------------------------------------------------------------- pooling
def _adaptive_bounds(n_in: int, n_out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows: [floor(i n_in / n_out), ceil((i + 1) n_in / n_out))."""
    return [((i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)) for i in range(n_out)]


def _adaptive_size(output_size, shape) -> tuple[int, int]:
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    h, w = output_size
    return (shape[-2] if h is None else int(h)), (shape[-1] if w is None else int(w))


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Mean over PyTorch's adaptive windows (:func:`_adaptive_bounds`), as two matrix products
    A_h x A_w^T with averaging matrices (rows sum to 1): exact gradients for any sizes.

    Shape: (N, C, H, W) or (C, H, W) -> (..., H_out, W_out).
    """
    input = _t(input)
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected a 3-D or 4-D input, got shape "
                         f"{input.shape}")
    oh, ow = _adaptive_size(output_size, input.shape)
    h, w = input.shape[-2:]
    mats = []
    for n_in, n_out in ((h, oh), (w, ow)):
        m = np.zeros((n_out, n_in), input.dtype)
        for i, (lo, hi) in enumerate(_adaptive_bounds(n_in, n_out)):
            m[i, lo:hi] = 1.0 / (hi - lo)
        mats.append(m)
    return Tensor(mats[0]) @ input @ Tensor(np.ascontiguousarray(mats[1].T))


def adaptive_max_pool2d(input: Tensor, output_size) -> Tensor:
    """Maximum over PyTorch's adaptive windows; shape as :func:`adaptive_avg_pool2d`."""
    input = _t(input)
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_max_pool2d: expected a 3-D or 4-D input, got shape "
                         f"{input.shape}")
    oh, ow = _adaptive_size(output_size, input.shape)
    h, w = input.shape[-2:]
    rows = []
    for hlo, hhi in _adaptive_bounds(h, oh):
        cells = [input[..., hlo:hhi, wlo:whi].max(axis=(-2, -1))
                 for wlo, whi in _adaptive_bounds(w, ow)]
        rows.append(apply(OPS["stack"], *cells, axis=-1))
    return apply(OPS["stack"], *rows, axis=-2)


def _pool1d(kind: str, input: Tensor, kernel_size, stride, padding) -> Tensor:
    input = _t(input)
    if input.ndim not in (2, 3):
        raise ValueError(f"{kind}_pool1d: expected a 2-D or 3-D input, got shape {input.shape}")
    k = _one(kernel_size)
    s = k if stride is None else _one(stride)
    p = _one(padding)
    x = input.reshape(*input.shape[:-1], 1, input.shape[-1])
    if x.ndim == 3:
        x = x.reshape(1, *x.shape)
    out = apply(OPS[f"{kind}_pool2d"], x, kernel_size=(1, k), stride=(1, s), padding=(0, p))
    return out.reshape(*input.shape[:-1], out.shape[-1])


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Max over windows of (N, C, L); L_out = floor((L + 2p - k) / s) + 1."""
    return _pool1d("max", input, kernel_size, stride, padding)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Mean over windows of (N, C, L) (padding counts as zeros)."""
    return _pool1d("avg", input, kernel_size, stride, padding)


# --------------------------------------------------------------------------- resampling
def _interp_matrix(n_in: int, n_out: int, mode: str, align_corners: bool | None,
                   scale: float | None, dtype) -> np.ndarray:
    """The (n_out, n_in) matrix of 1-D nearest or linear interpolation (PyTorch's source
    coordinates: nearest floor(i * n_in / n_out) or floor(i / scale); linear
    (i + 0.5) / scale - 0.5 clamped at 0, or i (n_in - 1) / (n_out - 1) with
    align_corners)."""
    m = np.zeros((n_out, n_in), dtype)
    i = np.arange(n_out)
    if mode == "nearest":
        ratio = n_in / n_out if scale is None else 1.0 / scale
        src = np.minimum(np.floor(i * ratio).astype(np.int64), n_in - 1)
        m[i, src] = 1.0
        return m
    if align_corners:
        src = i * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
    else:
        ratio = n_in / n_out if scale is None else 1.0 / scale
        src = np.maximum((i + 0.5) * ratio - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    np.add.at(m, (i, lo), 1 - frac)
    np.add.at(m, (i, hi), frac)
    return m


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None) -> Tensor:
    """Resize the spatial axes of (N, C, L) or (N, C, H, W) by 'nearest', 'linear' (3-D) or
    'bilinear' (4-D) interpolation, as products with interpolation matrices (exact
    gradients). Give ``size`` or ``scale_factor``; ``align_corners`` only for the linear
    modes.

    Output size: ``size``, or floor(n * scale_factor).
    """
    input = _t(input)
    if mode not in ("nearest", "linear", "bilinear"):
        raise ValueError(f"interpolate: mode must be 'nearest', 'linear' or 'bilinear', got "
                         f"{mode!r}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners can only be set with the linear modes")
    spatial = input.ndim - 2
    if spatial not in (1, 2) or (mode == "bilinear" and spatial != 2) or (
            mode == "linear" and spatial != 1):
        raise ValueError(f"interpolate: mode {mode!r} does not take an input of shape "
                         f"{input.shape} (nearest: 3-D or 4-D, linear: 3-D, bilinear: 4-D)")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    in_sizes = input.shape[2:]
    if size is not None:
        sizes = (size,) * spatial if isinstance(size, int) else tuple(size)
        scales = (None,) * spatial
    else:
        factors = ((scale_factor,) * spatial if np.ndim(scale_factor) == 0
                   else tuple(scale_factor))
        sizes = tuple(int(math.floor(n * f)) for n, f in zip(in_sizes, factors, strict=True))
        scales = tuple(float(f) for f in factors)
    mode1 = "nearest" if mode == "nearest" else "linear"
    mats = [_interp_matrix(n, o, mode1, align_corners, sc, input.dtype)
            for n, o, sc in zip(in_sizes, sizes, scales, strict=True)]
    out = input @ Tensor(np.ascontiguousarray(mats[-1].T))
    if spatial == 2:
        out = Tensor(mats[0]) @ out
    return out

