"""ONNX converters (opset 17) of the normalisation, recurrent, convolution, pooling, resampling
and activation layers added after the notes' models; :mod:`lamina.onnx` merges
:data:`CONVERTERS` into its table.

    BatchNorm1d/2d     -> BatchNormalization (running statistics; eval mode)
    LayerNorm          -> LayerNormalization(axis=-k)
    GroupNorm          -> Reshape (N, G, -1), LayerNormalization, Reshape back, Mul, Add
    RNN, LSTM, GRU     -> one RNN / LSTM / GRU node per layer (both directions in one node),
                          PyTorch's gates reordered to ONNX's (LSTM i,f,g,o -> i,o,f,c;
                          GRU r,z,n -> z,r,h with linear_before_reset=1); the layer's output
                          sequence (T, B, D*H) (or (B, T, D*H) with batch_first)
    Conv1d             -> Conv (1-D);  ConvTranspose2d -> ConvTranspose
    MaxPool1d/AvgPool1d -> MaxPool/AveragePool (1-D)
    AdaptiveAvgPool2d, Upsample -> MatMul with the same averaging/interpolation matrices
    AdaptiveMaxPool2d  -> GlobalMaxPool, or MaxPool when the sizes divide
    GELU               -> its formula with Erf (or Tanh); ELU, SELU, CELU, Softsign, PReLU,
                          HardSigmoid, HardSwish, Softplus: the ONNX ops (formulas where
                          PyTorch's arguments differ); Mish, LogSigmoid, Threshold: formulas
    Dropout1d/2d       -> nothing (inference graph)

A converter takes (graph builder, layer, input name, per-sample input shape, layer name) and
returns its output's name; it uses only the builder's ``node`` and ``constant`` methods.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lamina.functional_more import _adaptive_bounds, _adaptive_size, _interp_matrix


def _norm_params(g, layer, name: str, size) -> tuple[str, str]:
    weight = getattr(layer, "weight", None)
    bias = getattr(layer, "bias", None)
    scale = np.ones(size) if weight is None else weight._data
    shift = np.zeros(size) if bias is None else bias._data
    return g.constant(f"{name}.weight", scale), g.constant(f"{name}.bias", shift)


def _batch_norm(g, layer, x: str, shape, name: str) -> str:
    if layer.running_mean is None:
        raise TypeError(f"lm.onnx.export: {name} ({type(layer).__name__}) has "
                        f"track_running_stats=False (it normalises by each batch's statistics "
                        f"even in eval mode), which BatchNormalization cannot express")
    scale, bias = _norm_params(g, layer, name, layer.num_features)
    return g.node("BatchNormalization",
                  [x, scale, bias, g.constant(f"{name}.running_mean", layer.running_mean._data),
                   g.constant(f"{name}.running_var", layer.running_var._data)],
                  f"{name}.batchnorm", epsilon=float(layer.eps))


def _layer_norm(g, layer, x: str, shape, name: str) -> str:
    k = len(layer.normalized_shape)
    scale, bias = _norm_params(g, layer, name, layer.normalized_shape)
    return g.node("LayerNormalization", [x, scale, bias], f"{name}.layernorm", axis=-k,
                  epsilon=float(layer.eps))


def _group_norm(g, layer, x: str, shape, name: str) -> str:
    groups = layer.num_groups
    per_group = int(np.prod(shape)) // groups
    grouped = g.node("Reshape", [x, g.constant(f"{name}.grouped", [0, groups, per_group],
                                                 np.int64)], f"{name}.reshape")
    normed = g.node("LayerNormalization",
                    [grouped, g.constant(f"{name}.ones", np.ones(per_group)),
                     g.constant(f"{name}.zeros", np.zeros(per_group))],
                    f"{name}.layernorm", axis=-1, epsilon=float(layer.eps))
    y = g.node("Reshape", [normed, g.constant(f"{name}.shape", [0, *shape], np.int64)],
               f"{name}.reshape_back")
    if layer.weight is None:
        return y
    tail = (1,) * (len(shape) - 1)
    y = g.node("Mul", [y, g.constant(f"{name}.weight", layer.weight._data.reshape(-1, *tail))],
               f"{name}.mul")
    return g.node("Add", [y, g.constant(f"{name}.bias", layer.bias._data.reshape(-1, *tail))],
                  f"{name}.add")


_GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}  # torch's gate blocks in ONNX's order


def _reorder(w: np.ndarray, mode: str, hidden: int) -> np.ndarray:
    order = _GATE_ORDER.get(mode)
    if order is None:
        return w
    blocks = [w[i * hidden:(i + 1) * hidden] for i in range(len(order))]
    return np.concatenate([blocks[i] for i in order], axis=0)


def _recurrent(g, layer, x: str, shape, name: str) -> str:
    mode = "LSTM" if layer.mode == "LSTM" else "GRU" if layer.mode == "GRU" else "RNN"
    hidden = layer.hidden_size
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[mode] * hidden
    directions = 2 if layer.bidirectional else 1
    attributes: dict[str, Any] = {"hidden_size": hidden}
    if directions == 2:
        attributes["direction"] = "bidirectional"
    if mode == "GRU":
        attributes["linear_before_reset"] = 1
    if mode == "RNN":
        attributes["activations"] = ["Tanh" if layer.mode == "RNN_TANH" else "Relu"] * directions
    # (onnxruntime runs only layout 0, (T, B, I): batch_first inputs are transposed around it)
    value = g.node("Transpose", [x], f"{name}.time_first", perm=[1, 0, 2]) \
        if layer.batch_first else x
    for k in range(layer.num_layers):
        ws, rs, bs = [], [], []
        for suffix in ("", "_reverse")[:directions]:
            w_ih, w_hh, b_ih, b_hh = layer._params(k, suffix)
            ws.append(_reorder(w_ih._data, mode, hidden))
            rs.append(_reorder(w_hh._data, mode, hidden))
            if b_ih is None:
                bs.append(np.zeros(2 * gates, w_ih.dtype))
            else:
                bs.append(np.concatenate([_reorder(b_ih._data, mode, hidden),
                                          _reorder(b_hh._data, mode, hidden)]))
        stem = f"{name}.l{k}"
        y = g.node(mode, [value, g.constant(f"{stem}.W", np.stack(ws)),
                          g.constant(f"{stem}.R", np.stack(rs)),
                          g.constant(f"{stem}.B", np.stack(bs))],
                   f"{stem}.{mode.lower()}", **attributes)
        y = g.node("Transpose", [y], f"{stem}.transpose", perm=[0, 2, 1, 3])  # (T, B, D, H)
        value = g.node("Reshape", [y, g.constant(f"{stem}.shape", [0, 0, -1], np.int64)],
                       f"{stem}.reshape")  # (T, B, D * H)
    if layer.batch_first:
        value = g.node("Transpose", [value], f"{name}.batch_first", perm=[1, 0, 2])
    return value


def _conv1d(g, layer, x: str, shape, name: str) -> str:
    inputs = [x, g.constant(f"{name}.weight", layer.weight._data)]
    if layer.bias is not None:
        inputs.append(g.constant(f"{name}.bias", layer.bias._data))
    p = layer.padding[0]
    return g.node("Conv", inputs, f"{name}.conv", kernel_shape=list(layer.kernel_size),
                  strides=list(layer.stride), pads=[p, p], dilations=list(layer.dilation),
                  group=layer.groups)


def _conv_transpose2d(g, layer, x: str, shape, name: str) -> str:
    inputs = [x, g.constant(f"{name}.weight", layer.weight._data)]
    if layer.bias is not None:
        inputs.append(g.constant(f"{name}.bias", layer.bias._data))
    ph, pw = layer.padding
    return g.node("ConvTranspose", inputs, f"{name}.convtranspose",
                  kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
                  pads=[ph, pw, ph, pw], output_padding=list(layer.output_padding),
                  dilations=list(layer.dilation), group=layer.groups)


def _one(value) -> int:
    return int(value[0]) if isinstance(value, (tuple, list)) else int(value)


def _pool1d(op_type: str):
    def convert(g, layer, x: str, shape, name: str) -> str:
        if len(shape) != 2:
            raise TypeError(f"lm.onnx.export: {name} ({type(layer).__name__}) exports only "
                            f"batched (N, C, L) inputs")
        k, s, p = _one(layer.kernel_size), _one(layer.stride), _one(layer.padding)
        extra = {"count_include_pad": 1} if op_type == "AveragePool" else {}
        return g.node(op_type, [x], f"{name}.{op_type.lower()}", kernel_shape=[k],
                      strides=[s], pads=[p, p], **extra)
    return convert


def _matmul_resample(g, x: str, mats: list[np.ndarray], name: str) -> str:
    """x (.., H, W) -> A_h x A_w^T (A_h omitted when it is the only matrix: 1-D)."""
    y = g.node("MatMul", [x, g.constant(f"{name}.right", np.ascontiguousarray(mats[-1].T))],
               f"{name}.matmul_w")
    if len(mats) == 2:
        y = g.node("MatMul", [g.constant(f"{name}.left", mats[0]), y], f"{name}.matmul_h")
    return y


def _adaptive_avg(g, layer, x: str, shape, name: str) -> str:
    oh, ow = _adaptive_size(layer.output_size, shape)
    mats = []
    for n_in, n_out in ((shape[-2], oh), (shape[-1], ow)):
        m = np.zeros((n_out, n_in))
        for i, (lo, hi) in enumerate(_adaptive_bounds(n_in, n_out)):
            m[i, lo:hi] = 1.0 / (hi - lo)
        mats.append(m)
    return _matmul_resample(g, x, mats, name)


def _adaptive_max(g, layer, x: str, shape, name: str) -> str:
    oh, ow = _adaptive_size(layer.output_size, shape)
    h, w = shape[-2:]
    if (oh, ow) == (1, 1):
        return g.node("GlobalMaxPool", [x], f"{name}.globalmaxpool")
    if h % oh or w % ow:
        raise TypeError(f"lm.onnx.export: {name} (AdaptiveMaxPool2d) from {h}x{w} to "
                        f"{oh}x{ow} has windows of different sizes, which MaxPool cannot "
                        f"express (export with sizes that divide)")
    kernel = [h // oh, w // ow]
    return g.node("MaxPool", [x], f"{name}.maxpool", kernel_shape=kernel, strides=kernel)


def _upsample(g, layer, x: str, shape, name: str) -> str:
    spatial = shape[1:]
    if layer.size is not None:
        sizes = (layer.size,) * len(spatial) if isinstance(layer.size, int) else layer.size
        scales = (None,) * len(spatial)
    else:
        factors = ((layer.scale_factor,) * len(spatial) if np.ndim(layer.scale_factor) == 0
                   else layer.scale_factor)
        sizes = tuple(int(math.floor(n * f)) for n, f in zip(spatial, factors, strict=True))
        scales = tuple(float(f) for f in factors)
    mode = "nearest" if layer.mode == "nearest" else "linear"
    mats = [_interp_matrix(n, o, mode, layer.align_corners, s, np.float64)
            for n, o, s in zip(spatial, sizes, scales, strict=True)]
    return _matmul_resample(g, x, mats, name)


def _gelu(g, layer, x: str, shape, name: str) -> str:
    if layer.approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.node("Mul", [x, g.node("Mul", [x, x], f"{name}.square")], f"{name}.cube")
        inner = g.node("Add", [x, g.node("Mul", [cube, g.constant(f"{name}.c", 0.044715)],
                                         f"{name}.mul_c")], f"{name}.inner")
        scaled = g.node("Mul", [inner, g.constant(f"{name}.k", math.sqrt(2 / math.pi))],
                        f"{name}.scaled")
        t = g.node("Tanh", [scaled], f"{name}.tanh")
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        t = g.node("Erf", [g.node("Mul", [x, g.constant(f"{name}.k", 1 / math.sqrt(2))],
                                  f"{name}.scaled")], f"{name}.erf")
    one_plus = g.node("Add", [t, g.constant(f"{name}.one", 1.0)], f"{name}.add")
    half_x = g.node("Mul", [x, g.constant(f"{name}.half", 0.5)], f"{name}.half_x")
    return g.node("Mul", [half_x, one_plus], f"{name}.gelu")


def _simple(op_type: str, **fixed):
    def convert(g, layer, x: str, shape, name: str) -> str:
        return g.node(op_type, [x], f"{name}.{op_type.lower()}", **fixed)
    return convert


def _elu(g, layer, x: str, shape, name: str) -> str:
    return g.node("Elu", [x], f"{name}.elu", alpha=float(layer.alpha))


def _celu(g, layer, x: str, shape, name: str) -> str:
    return g.node("Celu", [x], f"{name}.celu", alpha=float(layer.alpha))


def _selu(g, layer, x: str, shape, name: str) -> str:
    from lamina.functional_more import SELU_ALPHA, SELU_SCALE

    return g.node("Selu", [x], f"{name}.selu", alpha=SELU_ALPHA, gamma=SELU_SCALE)


def _softplus(g, layer, x: str, shape, name: str) -> str:
    """Where(beta x > threshold, x, Softplus(beta x) / beta)."""
    bx = g.node("Mul", [x, g.constant(f"{name}.beta", layer.beta)], f"{name}.bx")
    soft = g.node("Div", [g.node("Softplus", [bx], f"{name}.softplus"),
                          g.constant(f"{name}.beta_div", layer.beta)], f"{name}.div")
    linear = g.node("Greater", [bx, g.constant(f"{name}.threshold", layer.threshold)],
                    f"{name}.linear")
    return g.node("Where", [linear, x, soft], f"{name}.where")


def _mish(g, layer, x: str, shape, name: str) -> str:
    t = g.node("Tanh", [g.node("Softplus", [x], f"{name}.softplus")], f"{name}.tanh")
    return g.node("Mul", [x, t], f"{name}.mish")


def _log_sigmoid(g, layer, x: str, shape, name: str) -> str:
    neg = g.node("Neg", [x], f"{name}.neg")
    return g.node("Neg", [g.node("Softplus", [neg], f"{name}.softplus")], f"{name}.logsigmoid")


def _prelu(g, layer, x: str, shape, name: str) -> str:
    slope = layer.weight._data
    if slope.size > 1:
        slope = slope.reshape(-1, *(1,) * (len(shape) - 1))
    return g.node("PRelu", [x, g.constant(f"{name}.weight", slope)], f"{name}.prelu")


def _threshold(g, layer, x: str, shape, name: str) -> str:
    keep = g.node("Greater", [x, g.constant(f"{name}.threshold", layer.threshold)],
                  f"{name}.keep")
    return g.node("Where", [keep, x, g.constant(f"{name}.value", layer.value)], f"{name}.where")


def _skip(g, layer, x: str, shape, name: str) -> str:
    return x


CONVERTERS = {
    "BatchNorm1d": _batch_norm,
    "BatchNorm2d": _batch_norm,
    "LayerNorm": _layer_norm,
    "GroupNorm": _group_norm,
    "RNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "Conv1d": _conv1d,
    "ConvTranspose2d": _conv_transpose2d,
    "MaxPool1d": _pool1d("MaxPool"),
    "AvgPool1d": _pool1d("AveragePool"),
    "AdaptiveAvgPool2d": _adaptive_avg,
    "AdaptiveMaxPool2d": _adaptive_max,
    "Upsample": _upsample,
    "GELU": _gelu,
    "ELU": _elu,
    "CELU": _celu,
    "SELU": _selu,
    "Softplus": _softplus,
    "Mish": _mish,
    "Hardswish": _simple("HardSwish"),
    "Hardsigmoid": _simple("HardSigmoid", alpha=1.0 / 6.0, beta=0.5),
    "PReLU": _prelu,
    "LogSigmoid": _log_sigmoid,
    "Softsign": _simple("Softsign"),
    "Threshold": _threshold,
    "Dropout1d": _skip,
    "Dropout2d": _skip,
}
