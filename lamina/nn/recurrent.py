"""Recurrent layers RNN, LSTM, GRU and their cells, with PyTorch's arguments, gate orders,
parameter names (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...) and initialisation
U(-1/sqrt(H), 1/sqrt(H)).

Each layer and direction is one recurrent op (:mod:`lamina.ops.recurrent`) whose backward is
exact backpropagation through time, with one GEMM for the input projection of all time steps
(inside the op for LSTM, ``F.linear`` before it for RNN and GRU).
"""

from __future__ import annotations

import math

import numpy as np

from lamina import functional as F
from lamina.nn import init
from lamina.nn.module import Module, Parameter
from lamina.ops import OPS
from lamina.tensor import Tensor, apply

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _as_tensor(x, dtype) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x, dtype=dtype)


def _run_layer(mode: str, x: Tensor, h0: Tensor, c0: Tensor | None, w_ih, w_hh, b_ih, b_hh,
               reverse: bool, batch_first: bool = False) -> tuple[Tensor, Tensor, Tensor | None]:
    """(outputs (T, B, H), h_n (B, H), c_n or None) of one layer and direction on x (T, B, I);
    with ``batch_first`` (LSTM only) the outputs come as (B, T, H)."""
    t_len = x.shape[0]
    last = 0 if reverse else t_len - 1
    if mode == "LSTM":
        out = apply(OPS["lstm_sequence"], x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=reverse)
        seq = apply(OPS["sequence_outputs"], out, batch_first=batch_first)
        return seq, out[last], out[t_len]
    proj = F.linear(x.contiguous(), w_ih, b_ih)  # (a batch-first x is transposed: 2x faster)
    if mode == "GRU":
        out = apply(OPS["gru_layer"], proj, h0, w_hh, b_hh, reverse=reverse)
    else:
        out = apply(OPS["rnn_layer"], proj, h0, w_hh, b_hh, reverse=reverse,
                    nonlinearity="tanh" if mode == "RNN_TANH" else "relu")
    return out, out[last], None


class RNNBase(Module):
    """Shared body of RNN, LSTM and GRU (PyTorch's ``nn.RNNBase``).

    Args:
        mode: 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU'.
        input_size: features of each input step.
        hidden_size: H.
        num_layers: stacked layers; layer k > 0 reads layer k-1's outputs.
        bias: learn b_ih and b_hh.
        batch_first: input and output are (B, T, *) instead of (T, B, *).
        dropout: dropout on the outputs of every layer but the last, in training.
        bidirectional: also run each layer from t = T-1 to 0 and concatenate (2H features).
        dtype: parameter dtype (float32 by default).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype=None):
        super().__init__()
        name = type(self).__name__
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"{name}: input_size, hidden_size and num_layers must be positive, "
                             f"got ({input_size}, {hidden_size}, {num_layers})")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        self.mode = mode
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias = int(num_layers), bias
        self.batch_first, self.dropout = batch_first, float(dropout)
        self.bidirectional = bidirectional
        dtype = np.dtype(dtype or np.float32)
        gates = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                setattr(self, f"weight_ih_l{layer}{suffix}",
                        Parameter(np.empty((gates, layer_in), dtype)))
                setattr(self, f"weight_hh_l{layer}{suffix}",
                        Parameter(np.empty((gates, hidden_size), dtype)))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", Parameter(np.empty(gates, dtype)))
                    setattr(self, f"bias_hh_l{layer}{suffix}", Parameter(np.empty(gates, dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's default)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _params(self, layer: int, suffix: str):
        get = self._parameters.get
        return (get(f"weight_ih_l{layer}{suffix}"), get(f"weight_hh_l{layer}{suffix}"),
                get(f"bias_ih_l{layer}{suffix}"), get(f"bias_hh_l{layer}{suffix}"))

    def _initial(self, hx, batch: int, dtype, unbatched: bool, where: str) -> Tensor:
        directions = 2 if self.bidirectional else 1
        shape = (self.num_layers * directions, batch, self.hidden_size)
        if hx is None:
            return Tensor(np.zeros(shape, dtype))
        hx = _as_tensor(hx, dtype)
        if unbatched:
            hx = hx.reshape(shape[0], 1, shape[2]) if hx.ndim == 2 else hx
        if tuple(hx.shape) != shape:
            raise ValueError(f"{type(self).__name__}: expected {where} of shape "
                             f"{shape[:1] + shape[2:] if unbatched else shape}, got "
                             f"{tuple(hx.shape)}")
        return hx

    def forward(self, input, hx=None):
        name = type(self).__name__
        dtype = self.weight_ih_l0.dtype
        x = _as_tensor(input, dtype)
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: expected a 2-D (unbatched) or 3-D input, got shape "
                             f"{tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has {x.shape[-1]} features, expected input_size="
                             f"{self.input_size} (shape {tuple(x.shape)})")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
        elif self.batch_first:
            x = x.transpose(0, 1)
        batch = x.shape[1]
        if self.mode == "LSTM":
            if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got "
                                f"{type(hx).__name__}")
            h0 = self._initial(None if hx is None else hx[0], batch, dtype, unbatched, "h_0")
            c0 = self._initial(None if hx is None else hx[1], batch, dtype, unbatched, "c_0")
        else:
            h0 = self._initial(hx, batch, dtype, unbatched, "hx")
            c0 = None
        directions = 2 if self.bidirectional else 1
        # a one-direction LSTM's last layer gives its outputs batch-first itself
        first = (self.batch_first and not unbatched and self.mode == "LSTM"
                 and directions == 1)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:directions]):
                w_ih, w_hh, b_ih, b_hh = self._params(layer, suffix)
                k = layer * directions + d
                out, h_last, c_last = _run_layer(self.mode, x, h0[k],
                                                 None if c0 is None else c0[k], w_ih, w_hh,
                                                 b_ih, b_hh, reverse=d == 1,
                                                 batch_first=first
                                                 and layer == self.num_layers - 1)
                outs.append(out)
                h_n.append(h_last)
                c_n.append(c_last)
            x = outs[0] if directions == 1 else apply(OPS["concatenate"], *outs, axis=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        h = apply(OPS["stack"], *h_n, axis=0)
        if unbatched:
            x, h = x.reshape(x.shape[0], x.shape[2]), h.reshape(h.shape[0], h.shape[2])
        elif self.batch_first and not first:
            x = x.transpose(0, 1)
        if self.mode != "LSTM":
            return x, h
        c = apply(OPS["stack"], *c_n, axis=0)
        if unbatched:
            c = c.reshape(c.shape[0], c.shape[2])
        return x, (h, c)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu.

    Shape: input (T, B, I) (``batch_first``: (B, T, I); unbatched (T, I)); hx
    (layers * directions, B, H). Returns (output (T, B, directions * H), h_n).

    Example:
        >>> import lamina as lm
        >>> out, h = RNN(3, 5, num_layers=2)(lm.randn(7, 2, 3))
        >>> out.shape, h.shape
        ((7, 2, 5), (2, 2, 5))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype)
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.nonlinearity == "tanh" else text + ", nonlinearity='relu'"


class LSTM(RNNBase):
    """Long short-term memory (gates i, f, g, o; see
    :func:`lamina.ops.recurrent.lstm_sequence`).

    Shape: input (T, B, I) (``batch_first``: (B, T, I); unbatched (T, I)); hx = (h_0, c_0),
    each (layers * directions, B, H). Returns (output (T, B, directions * H), (h_n, c_n)).

    Example:
        >>> import lamina as lm
        >>> out, (h, c) = LSTM(3, 5, batch_first=True)(lm.randn(2, 7, 3))
        >>> out.shape, h.shape, c.shape
        ((2, 7, 5), (1, 2, 5), (1, 2, 5))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n; see :func:`lamina.ops.recurrent.gru_layer`).

    Shape: as :class:`RNN`. Returns (output, h_n).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype)


class RNNCellBase(Module):
    """Shared body of the cells: one time step, parameters ``weight_ih``, ``weight_hh``,
    ``bias_ih``, ``bias_hh`` (PyTorch's names), initialised U(-1/sqrt(H), 1/sqrt(H))."""

    _mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None):
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be "
                             f"positive, got ({input_size}, {hidden_size})")
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        dtype = np.dtype(dtype or np.float32)
        gates = _GATES[self._mode] * hidden_size
        self.weight_ih = Parameter(np.empty((gates, input_size), dtype))
        self.weight_hh = Parameter(np.empty((gates, hidden_size), dtype))
        self.bias_ih = Parameter(np.empty(gates, dtype)) if bias else None
        self.bias_hh = Parameter(np.empty(gates, dtype)) if bias else None
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _step(self, input, hx, c=None):
        name = type(self).__name__
        dtype = self.weight_ih.dtype
        x = _as_tensor(input, dtype)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected an input (B, {self.input_size}) or "
                             f"({self.input_size},), got shape {tuple(x.shape)}")
        unbatched = x.ndim == 1
        if unbatched:
            x = x.reshape(1, x.shape[0])
        states = []
        for state in (hx, c):
            if state is None:
                states.append(Tensor(np.zeros((x.shape[0], self.hidden_size), dtype)))
            else:
                state = _as_tensor(state, dtype)
                states.append(state.reshape(1, state.shape[0]) if unbatched else state)
        out, h, c_new = _run_layer(self._mode, x.reshape(1, *x.shape), states[0], states[1],
                                   self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                                   reverse=False)
        if unbatched:
            h = h.reshape(self.hidden_size)
            c_new = None if c_new is None else c_new.reshape(self.hidden_size)
        return h, c_new

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        return text if self.bias else text + ", bias=False"


class RNNCell(RNNCellBase):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh); forward(input, hx=None) -> h'."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype)
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._step(input, hx)[0]

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.nonlinearity == "tanh" else text + ", nonlinearity='relu'"


class LSTMCell(RNNCellBase):
    """One LSTM step; forward(input, hx=None) with hx = (h, c) -> (h', c')."""

    _mode = "LSTM"

    def forward(self, input, hx=None):
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        h, c = self._step(input, None if hx is None else hx[0], None if hx is None else hx[1])
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step; forward(input, hx=None) -> h'."""

    _mode = "GRU"

    def forward(self, input, hx=None):
        return self._step(input, hx)[0]
