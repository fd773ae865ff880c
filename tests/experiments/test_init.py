"""The registry of experiments (lamina/experiments/__init__.py)."""

import inspect

import pytest

from lamina import experiments

NAMES = ["capacity", "no-free-lunch", "universal-approximation", "minibatch-gradient",
         "optimizers", "activations", "activation-features", "regularization", "convolution",
         "cnn-properties", "metrics-imbalance", "ml-process"]


def test_names_in_the_notes_order():
    assert experiments.names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_module_follows_the_contract(name):
    module = experiments.get(name)
    assert module.NAME == name
    assert isinstance(module.CLAIM, str) and module.CLAIM and "\n" not in module.CLAIM
    parameters = inspect.signature(module.run).parameters
    assert list(parameters)[:4] == ["quick", "out", "seed", "progress"]
    assert parameters["quick"].default is False and parameters["out"].default is None
    assert parameters["seed"].default == 0 and parameters["progress"].default is True
    assert parameters["tiny"].kind is inspect.Parameter.KEYWORD_ONLY
    assert set(module.SETTINGS) == {"tiny", "quick", "full"}


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match="unknown experiment 'nope'.*capacity"):
        experiments.get("nope")


def test_claims_maps_every_name():
    assert list(experiments.claims()) == NAMES
