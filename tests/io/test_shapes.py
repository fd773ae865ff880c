"""The shape rules (parameter shapes from a layer's config, before building it) match the layers."""

from __future__ import annotations

import pytest

import lamina as lm
from lamina.io import expected_shapes, module_config
from lamina.io.shapes import _RULES

EXAMPLES = {
    "Linear": [dict(in_features=4, out_features=3), dict(in_features=2, out_features=5,
                                                         bias=False)],
    "Conv2d": [dict(in_channels=3, out_channels=4, kernel_size=3),
               dict(in_channels=2, out_channels=6, kernel_size=(3, 2), stride=2, padding=1,
                    bias=False)],
    "MaskedConv2d": [dict(in_channels=2, out_channels=3, kernel_size=5,
                          connection_table=[[0], [1], [0, 1]])],
    "Subsampling": [dict(channels=6), dict(channels=2, kernel_size=(2, 3))],
    "ReLU": [{}], "LeakyReLU": [dict(negative_slope=0.2)], "Sigmoid": [{}], "Tanh": [{}],
    "Swish": [{}], "SiLU": [{}], "ScaledTanh": [{}], "Softmax": [dict(dim=1)],
    "LogSoftmax": [dict(dim=1)], "Dropout": [dict(p=0.3)], "Flatten": [{}], "Identity": [{}],
    "MaxPool2d": [dict(kernel_size=2)], "AvgPool2d": [dict(kernel_size=3, stride=1)],
    "Conv1d": [dict(in_channels=4, out_channels=6, kernel_size=3, groups=2),
               dict(in_channels=1, out_channels=2, kernel_size=5, bias=False)],
    "ConvTranspose2d": [dict(in_channels=4, out_channels=6, kernel_size=(3, 2), groups=2),
                        dict(in_channels=2, out_channels=3, kernel_size=3, bias=False)],
    "BatchNorm1d": [dict(num_features=5), dict(num_features=3, affine=False),
                    dict(num_features=2, track_running_stats=False)],
    "BatchNorm2d": [dict(num_features=4)],
    "LayerNorm": [dict(normalized_shape=5), dict(normalized_shape=[2, 3], bias=False),
                  dict(normalized_shape=4, elementwise_affine=False)],
    "GroupNorm": [dict(num_groups=2, num_channels=6), dict(num_groups=1, num_channels=3,
                                                           affine=False)],
    "Embedding": [dict(num_embeddings=10, embedding_dim=3, padding_idx=0)],
    "PReLU": [{}, dict(num_parameters=4)],
    "RNN": [dict(input_size=3, hidden_size=4, num_layers=2, nonlinearity="relu")],
    "LSTM": [dict(input_size=3, hidden_size=5), dict(input_size=2, hidden_size=3, num_layers=2,
                                                     bidirectional=True, bias=False)],
    "GRU": [dict(input_size=4, hidden_size=2, num_layers=3, bidirectional=True)],
    "RNNCell": [dict(input_size=3, hidden_size=4)], "LSTMCell": [dict(input_size=3,
                                                                      hidden_size=2)],
    "GRUCell": [dict(input_size=2, hidden_size=5, bias=False)],
    "Dropout1d": [{}], "Dropout2d": [dict(p=0.2)], "MaxPool1d": [dict(kernel_size=2)],
    "AvgPool1d": [dict(kernel_size=2)], "AdaptiveAvgPool2d": [dict(output_size=2)],
    "AdaptiveMaxPool2d": [dict(output_size=(2, 3))], "Upsample": [dict(scale_factor=2)],
    "GELU": [{}], "ELU": [{}], "CELU": [{}], "SELU": [{}], "Softplus": [{}],
    "Hardswish": [{}], "Hardsigmoid": [{}], "Mish": [{}], "Softsign": [{}],
    "LogSigmoid": [{}], "Threshold": [dict(threshold=0.1, value=0.0)],
}


def _layer_class(name):
    cls = lm.io.registry.lookup(name)
    return cls if cls is not None and cls.__module__.startswith("lamina.") else None


@pytest.mark.parametrize("name", sorted(_RULES))
def test_every_rule_matches_the_layer_it_describes(name):
    cls = _layer_class(name)
    if cls is None:
        pytest.skip(f"{name} is not a layer of this lamina")
    assert name in EXAMPLES, f"add an example construction of {name}"
    for args in EXAMPLES[name]:
        model = lm.nn.Sequential(cls(**args))
        config = module_config(model)
        built = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert expected_shapes(config, 0, "test") == built, (name, args)


def test_bad_arguments_are_value_errors_before_building():
    config = {"type": "Sequential", "args": {}, "children": [
        {"name": "0", "type": "Linear", "args": {"in_features": -3, "out_features": 2}}]}
    with pytest.raises(ValueError, match="cannot build Linear.*in_features must be a positive"):
        expected_shapes(config, 0, "here")
    config["children"][0]["args"] = {"in_features": 3, "out_features": 2, "colour": "red"}
    with pytest.raises(ValueError, match="cannot build Linear"):  # built guarded: Linear refuses
        expected_shapes(config, 0, "here")
