"""Data files read as a model's inputs: what ``lamina evaluate`` and ``lamina predict`` read.

Raw inputs (PNG pixels, ``.npz`` arrays, CSV rows) go through the model file's input pipeline
(:meth:`LoadedModel.inputs`), exactly as in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lamina.workflow.model_file import LoadedModel

__all__ = ["read_images", "read_labelled", "read_unlabelled"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MNIST_NAMES = {"mnist": "full", "mnist-small": "small"}


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
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(path, formats=["PNG"])
            with image:
                return np.asarray(image.convert("L"), dtype=np.float64)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValueError(f"'{path}' declares more pixels than Pillow's decompression-bomb "
                             f"limit ({Image.MAX_IMAGE_PIXELS:,}); not read") from None
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
