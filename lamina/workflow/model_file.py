"""The model file ``lamina train`` writes, opened with its input pipeline and classes.

A trained model is saved with ``lm.save`` together with

* ``preprocessing``: ``{"label_encoder": LabelEncoder}`` (class index -> original label);
* ``metadata``: ``input_shape``, ``classes``, ``pipeline`` (the input pipeline's JSON
  description, rebuilt by :func:`lamina.workflow.pipelines.pipeline_from_config`), the data
  source, the config and the final metrics.

:func:`load_model` reads any ``lm.save`` file: without that metadata, inputs are given to the
model as they are and predictions are class indices.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LoadedModel", "load_model", "save_model"]


def save_model(model: Any, path: Path, data: Any, config: Any, summary: dict[str, Any]) -> None:
    """``lm.save`` the trained model with its preprocessing and metadata (see module doc)."""
    from lamina.io import save
    from lamina.preprocessing import LabelEncoder

    preprocessing = {"label_encoder": LabelEncoder().fit(data.classes)}
    metadata = {
        "task": "classification",
        "input_shape": list(data.input_shape),
        "classes": list(data.classes),
        "pipeline": data.pipeline.to_config(),
        "data": data.info,
        "model_name": config["model"]["name"],
        "config": config.to_dict(),
        "metrics": summary["metrics"],
    }
    save(model, path, preprocessing=preprocessing, metadata=metadata)


@dataclass
class LoadedModel:
    """A model file opened for evaluation or prediction.

    Attributes:
        model: the network, in eval mode.
        path: the file.
        pipeline: the input pipeline, or None (inputs are used as they are).
        classes: ``classes[i]`` is the label of output ``i``, or None (labels are indices).
        input_shape: one sample's shape, or None when unknown.
        metadata: the file's metadata (``{}`` when it has none).
    """

    model: Any
    path: Path
    pipeline: Any = None
    classes: list[Any] | None = None
    input_shape: tuple[int, ...] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def label_of(self, indices: np.ndarray) -> list[Any]:
        """The original labels of class indices."""
        if self.classes is None:
            return [int(i) for i in indices]
        return [self.classes[int(i)] for i in indices]

    def index_of(self, labels: np.ndarray, where: str) -> np.ndarray:
        """Class indices of original labels.

        Raises:
            ValueError: a label the model does not know.
        """
        if self.classes is None:
            values = np.asarray(labels)
            if values.dtype.kind not in "iu":
                raise ValueError(f"{where}: labels must be class indices for this model (it "
                                 f"stores no class names), received {values.dtype} values")
            return values.astype(np.int64)
        lookup = {_key(c): i for i, c in enumerate(self.classes)}
        unknown = sorted({str(v) for v in labels if _key(v) not in lookup})
        if unknown:
            raise ValueError(
                f"{where}: labels {unknown[:10]} are not classes of the model "
                f"({', '.join(map(str, self.classes))})"
            )
        return np.array([lookup[_key(v)] for v in labels], dtype=np.int64)

    def inputs(self, raw: Any) -> np.ndarray:
        """Raw inputs (pixels, arrays, table rows) -> the model's inputs."""
        if self.pipeline is not None and self.pipeline.kind == "tabular" and \
                not hasattr(raw, "columns"):
            raw = self._as_table(np.asarray(raw))
        if self.pipeline is not None:
            return self.pipeline.transform(raw)
        x = np.asarray(raw)
        if self.input_shape is not None and x.shape[1:] != self.input_shape:
            if math.prod(x.shape[1:]) != math.prod(self.input_shape):
                raise ValueError(f"expected samples of shape {self.input_shape}, received an "
                                 f"array of shape {x.shape}")
            x = x.reshape(len(x), *self.input_shape)
        return x.astype(np.float32)

    def _as_table(self, x: np.ndarray) -> Any:
        """An array's rows as a table with the model's (numeric) feature columns."""
        from lamina.tabular import require_pandas

        pipe = self.pipeline
        if pipe.categories_:
            raise ValueError(f"this model reads table rows with string columns "
                             f"({', '.join(pipe.categories_)}); give a .csv file")
        if x.ndim != 2 or x.shape[1] != len(pipe.numeric_):
            raise ValueError(f"expected rows of {len(pipe.numeric_)} features "
                             f"({', '.join(pipe.numeric_)}), received an array of shape {x.shape}")
        return require_pandas().DataFrame(x, columns=pipe.numeric_)

    @functools.cached_property
    def predictor(self) -> Any:
        """The model's :class:`~lamina.workflow.predictor.Predictor` (made on first use)."""
        from lamina.workflow.predictor import Predictor

        return Predictor(self.model)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, C)`` of model inputs ``x``, through the one inference path
        (:func:`lamina.workflow.predictor.probabilities`: a final Softmax, LogSoftmax or Sigmoid
        is respected; plain logits get softmax, or sigmoid for one output).

        Raises:
            ValueError: an input holds NaN or infinity (after the input pipeline: a missing
                value, or a number too large for float32), the model's weights or outputs are
                not finite, or the model file's class list is shorter than its outputs.
        """
        x = np.asarray(x)
        if x.dtype.kind in "fc" and not np.all(np.isfinite(x)):
            flat = np.isfinite(x.reshape(len(x), -1))
            sample = int(np.argwhere(~flat)[0][0])
            raise ValueError(f"input sample {sample} (counting from 0) holds NaN or infinity after "
                             f"the model's input pipeline (a missing value, or a number too large "
                             f"for float32); only finite inputs can be predicted")
        p = self.predictor.predict_proba(x)
        if not np.all(np.isfinite(p)):
            from lamina.workflow.predictor import check_finite_weights

            check_finite_weights(self.model, f"model file '{self.path}'")
            sample = int(np.argwhere(~np.isfinite(p))[0][0])
            raise ValueError(f"model file '{self.path}': the model's outputs for input sample "
                             f"{sample} are NaN or infinite")
        if self.classes is not None and len(self.classes) < p.shape[1]:
            raise ValueError(f"model file '{self.path}': {len(self.classes)} class names for a "
                             f"model with {p.shape[1]} outputs")
        return p


def _key(value: Any) -> Any:
    """Compare labels across types read from CSV/JSON: 3, 3.0 and np.int64(3) are equal."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return str(value)


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Open a file written by ``lm.save`` (by ``lamina train`` or by hand).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is corrupt or not a lamina model (``lm.load``'s message).
    """
    from lamina.io import load_bundle
    from lamina.workflow.pipelines import pipeline_from_config

    file = Path(path)
    if not file.is_file():
        kind = "is a directory" if file.is_dir() else "no such file"
        raise FileNotFoundError(f"model file '{file}': {kind}")
    bundle = load_bundle(file)
    metadata = bundle.metadata if isinstance(bundle.metadata, dict) else {}
    pipeline = None
    if isinstance(metadata.get("pipeline"), dict):
        pipeline = pipeline_from_config(metadata["pipeline"])
    classes = metadata.get("classes")
    if classes is None:
        encoder = (bundle.preprocessing or {}).get("label_encoder") \
            if isinstance(bundle.preprocessing, dict) else None
        if encoder is not None and hasattr(encoder, "classes_"):
            classes = np.asarray(encoder.classes_).tolist()
    shape = metadata.get("input_shape")
    if shape is None:
        shape = _first_layer_shape(bundle.model)
    else:
        from lamina.models import check_input_shape

        try:
            shape = check_input_shape(shape, f"model file '{file}': metadata")
        except TypeError as err:
            raise ValueError(str(err)) from None
    if classes is not None and not isinstance(classes, list):
        raise ValueError(f"model file '{file}': metadata classes must be a list of labels, "
                         f"received {type(classes).__name__}")
    return LoadedModel(bundle.model, file, pipeline, classes, shape, metadata)


def _first_layer_shape(model: Any) -> tuple[int, ...] | None:
    """The input shape the first layer implies (``lm.models.infer_input_shape``), or None."""
    from lamina.models import infer_input_shape

    try:
        return infer_input_shape(model)[0]
    except ValueError:
        return None
