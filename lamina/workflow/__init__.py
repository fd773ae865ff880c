"""The application layer: what ``lamina``'s commands, the server and the tuner do, as functions.

``lamina/cli/`` only parses arguments and prints; :mod:`lamina.serve`, :mod:`lamina.tune` and
:mod:`lamina.experiments` build on the same functions. Nothing here imports those, and the
library below (``nn``, ``train``, ``io``, ...) never imports this package (see
docs/architecture.md; tests/test_architecture.py checks it).

Modules, one job each (imported on first use, so ``import lamina.workflow`` is cheap):

* :mod:`~lamina.workflow.predictor`: the one inference path and outputs -> probabilities;
* :mod:`~lamina.workflow.model_file`: the model file ``lamina train`` writes, opened with its
  input pipeline and classes (:func:`load_model`);
* :mod:`~lamina.workflow.data_files`: data files (PNG, ``.npz``, CSV) read as a model's inputs;
* :mod:`~lamina.workflow.pipelines`: the input pipelines saved with a model;
* :mod:`~lamina.workflow.sources`: the ``[data]`` sources of a config;
* :mod:`~lamina.workflow.factories`: the models, loss and callbacks a config names;
* :mod:`~lamina.workflow.training`: a run from a config (:func:`run_training`);
* :mod:`~lamina.workflow.evaluation`: scores of predicted classes (``lamina evaluate``);
* :mod:`~lamina.workflow.summary`: a model's layers and output shapes (``lamina summary``);
* :mod:`~lamina.workflow.inspection`: reports on a data file (``lamina inspect``);
* :mod:`~lamina.workflow.errors`: an exception as one readable line.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "Predictor": "predictor", "predict_proba": "predictor", "probabilities": "predictor",
    "output_kind": "predictor", "LoadedModel": "model_file", "load_model": "model_file",
    "save_model": "model_file", "read_labelled": "data_files", "read_unlabelled": "data_files",
    "run_training": "training", "build_from_config": "training",
    "TrainingResult": "training", "error_message": "errors",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"lamina.workflow.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'lamina.workflow' has no attribute {name!r}")
