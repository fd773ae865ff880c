"""The model file ``lamina train`` writes, and data files turned into that model's inputs.

A trained model is saved with ``lm.save`` together with

* ``preprocessing``: ``{"label_encoder": LabelEncoder}`` (class index -> original label);
* ``metadata``: ``input_shape``, ``classes``, ``pipeline`` (the input pipeline's JSON
  description, rebuilt by :func:`lamina.cli.inputs.pipeline_from_config`), the data source, the
  config and the final metrics.

:func:`load_model` reads any ``lm.save`` file: without that metadata, inputs are given to the
model as they are and predictions are class indices.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LoadedModel", "load_model", "read_images", "read_labelled", "read_unlabelled",
           "save_model"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MNIST_NAMES = {"mnist": "full", "mnist-small": "small"}


def save_model(model: Any, path: Path, data: Any, config: Any, summary: dict[str, Any]) -> None:
    """``lm.save`` the trained model with its preprocessing and metadata (see module doc)."""
    import lamina as lm
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
    lm.save(model, path, preprocessing=preprocessing, metadata=metadata)


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

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax of the model's outputs (one logit per class), shape ``(N, C)``."""
        from lamina.train.loop import predict

        logits = np.asarray(predict(self.model, x), dtype=np.float64).reshape(len(x), -1)
        if logits.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.stack([1.0 - p1, p1], axis=1)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


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
    from lamina.cli.inputs import pipeline_from_config
    from lamina.io import load_bundle

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
    return LoadedModel(bundle.model, file, pipeline, classes,
                       None if shape is None else tuple(int(d) for d in shape), metadata)


def _first_layer_shape(model: Any) -> tuple[int, ...] | None:
    """The input shape the first layer implies (``lm.onnx.infer_input_shape``), or None."""
    from lamina.onnx import infer_input_shape

    try:
        return infer_input_shape(model)[0]
    except ValueError:
        return None


# --------------------------------------------------------------------------- data files
def read_labelled(source: str, loaded: LoadedModel, label: str | None) -> tuple[Any, Any, str]:
    """Inputs and labels for ``lamina evaluate``.

    Args:
        source: an ``.npz`` (``x_test``/``y_test`` or ``x``/``y``), a ``.csv`` or ``"mnist"``
            / ``"mnist-small"`` (their test split).
        loaded: the model.
        label: the CSV's label column (default: the one the model was trained on), or the
            ``.npz``'s label array.

    Returns:
        ``(model inputs, original labels, description)``.

    Raises:
        ValueError: unknown kind of file, missing keys or columns, inputs of the wrong shape.
        FileNotFoundError: no such file.
    """
    if source in _MNIST_NAMES:
        from lamina.data.datasets import mnist

        subset = "small" if _MNIST_NAMES[source] == "small" else None
        _, (x, y) = mnist(subset=subset)
        return loaded.inputs(x), y, f"{source} test split: {len(y)} images"
    path = _existing(source)
    if path.suffix.lower() == ".npz":
        x, y = _npz(path, label)
        if np.ndim(y) != 1 or len(y) != len(x):
            raise ValueError(f"'{path}': labels of shape {np.shape(y)} do not match {len(x)} "
                             "inputs")
        return loaded.inputs(x), y, f"{path.name}: {len(y)} samples"
    if path.suffix.lower() == ".csv":
        frame, column = _table(path, loaded, label, need_label=True)
        from lamina.tabular import drop_missing

        frame, dropped = drop_missing(frame, [column])
        note = f" ({dropped} without a label skipped)" if dropped else ""
        y = frame[column].to_numpy()
        return _table_inputs(frame, column, loaded), y, f"{path.name}: {len(y)} rows{note}"
    raise ValueError(f"'{source}': expected an .npz or .csv file, or mnist / mnist-small")


def read_unlabelled(sources: list[str], loaded: LoadedModel) -> tuple[Any, list[str]]:
    """Inputs for ``lamina predict``: PNG images, one ``.npz`` or one ``.csv``.

    Returns:
        ``(model inputs, one name per sample)``.
    """
    paths = [_existing(s) for s in sources]
    kinds = {p.suffix.lower() for p in paths}
    if kinds == {".png"}:
        return loaded.inputs(read_images(paths, loaded)), [p.name for p in paths]
    if len(paths) != 1:
        raise ValueError("give several PNG images, or one .npz or .csv file")
    path = paths[0]
    if path.suffix.lower() == ".npz":
        from lamina.data import load_npz

        arrays = load_npz(path)
        key = next((k for k in ("x_test", "x", "inputs") if k in arrays),
                   next(iter(arrays)) if len(arrays) == 1 else None)
        if key is None:
            raise ValueError(f"'{path}': expected an array named x_test, x or inputs; it holds "
                             f"{sorted(arrays)}")
        x = arrays[key]
        return loaded.inputs(x), [str(i) for i in range(len(x))]
    if path.suffix.lower() == ".csv":
        frame, column = _table(path, loaded, None, need_label=False)
        return _table_inputs(frame, column, loaded), [str(i + 1) for i in range(len(frame))]
    raise ValueError(f"'{path}': expected .png images, an .npz or a .csv file")


def read_images(paths: list[Path], loaded: LoadedModel) -> np.ndarray:
    """Grayscale PNGs as pixels 0..255, checked against the model's image size.

    Returns:
        float32 ``(N, H, W)``.

    Raises:
        ValueError: the model does not take images, a file is not a PNG, or an image has
            another size (the message names the expected and received size).
    """
    shape = loaded.input_shape
    if shape is None or len(shape) != 3 or shape[0] != 1:
        raise ValueError(f"this model takes inputs of shape {shape}, not grayscale images; "
                         "give an .npz or .csv file")
    height, width = shape[1:]
    images = []
    for path in paths:
        with open(path, "rb") as handle:
            if handle.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
                raise ValueError(f"'{path}' is not a PNG file (it lacks the PNG signature)")
        pixels = _read_png(path)
        if pixels.shape != (height, width):
            raise ValueError(
                f"image '{path.name}' is {pixels.shape[1]}x{pixels.shape[0]} pixels; the model "
                f"expects {width}x{height} grayscale images"
            )
        images.append(pixels)
    return np.stack(images).astype(np.float32)


def _read_png(path: Path) -> np.ndarray:
    """A PNG as 2-D grayscale pixels 0..255 (Pillow if installed, else matplotlib)."""
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        try:
            with Image.open(path, formats=["PNG"]) as image:
                return np.asarray(image.convert("L"), dtype=np.float64)
        except (OSError, SyntaxError, ValueError) as err:
            raise ValueError(f"'{path}' is not a readable PNG ({err})") from None
    try:
        from matplotlib.image import imread
    except ImportError:
        raise ImportError("reading PNG images needs Pillow or matplotlib: install "
                          "lamina[plot]") from None
    try:
        pixels = np.asarray(imread(path), dtype=np.float64)
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"'{path}' is not a readable PNG ({err})") from None
    if pixels.ndim == 3:  # RGB(A): ITU-R 601-2 luma, as Pillow's convert("L")
        pixels = pixels[..., :3] @ np.array([0.299, 0.587, 0.114])
    return pixels * 255.0 if pixels.max(initial=0.0) <= 1.0 else pixels


def _existing(source: str) -> Path:
    path = Path(source)
    if not path.is_file():
        kind = "is a directory" if path.is_dir() else "no such file"
        raise FileNotFoundError(f"'{source}': {kind}")
    return path


def _npz(path: Path, label: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, labels): ``x_test``/``y_test`` or ``x``/``y``; or array ``label`` with ``x_test``
    or ``x``."""
    from lamina.data import load_npz

    arrays = load_npz(path)
    if label is not None:
        if label not in arrays:
            raise ValueError(f"'{path}': no array named {label!r}; it holds {sorted(arrays)}")
        x_key = next((k for k in ("x_test", "x", "inputs") if k in arrays), None)
        if x_key is not None:
            return arrays[x_key], arrays[label]
        raise ValueError(f"'{path}': no inputs array x_test, x or inputs; it holds "
                         f"{sorted(arrays)}")
    for x_key, y_key in (("x_test", "y_test"), ("x", "y")):
        if x_key in arrays and y_key in arrays:
            return arrays[x_key], arrays[y_key]
    raise ValueError(f"'{path}': expected arrays x_test and y_test, or x and y (or pass "
                     f"--label); it holds {sorted(arrays)}")


def _table(path: Path, loaded: LoadedModel, label: str | None,
           need_label: bool) -> tuple[Any, str | None]:
    """The CSV and its label column (from ``label``, else the one the model was trained on)."""
    from lamina.tabular import read_csv, select_columns

    frame = read_csv(path)
    column = label or getattr(loaded.pipeline, "label", None) or \
        (loaded.metadata.get("data") or {}).get("label")
    if need_label:
        if column is None:
            raise ValueError(f"'{path}': which column holds the labels? pass --label COLUMN")
        select_columns(frame, [column], f"'{path}'")
    return frame, column


def _table_inputs(frame: Any, label: str | None, loaded: LoadedModel) -> np.ndarray:
    if loaded.pipeline is not None and loaded.pipeline.kind == "tabular":
        return loaded.pipeline.transform(frame)
    features = frame.drop(columns=[label]) if label in frame.columns else frame
    return loaded.inputs(features.to_numpy(dtype=np.float64, na_value=np.nan))
