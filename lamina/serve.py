"""``lamina serve MODEL``: an HTTP prediction service (FastAPI app, run by uvicorn).

Endpoints:

    GET  /health    -> 200 {"status": "ok"}
    GET  /model     -> the model's description: layers, input shape, classes, parameter count
    POST /predict   -> 200 {"labels": [...], "probabilities": [[...], ...]}
    GET  /docs, /openapi.json -> the interactive documentation of the above

``POST /predict`` takes a batch of raw samples, as ``lamina predict`` reads them from files:
JSON ``{"inputs": [...]}`` (each item in the sample shape, or flattened to it; for a tabular
model, objects by column name or lists in column order), PNG images (``image/png`` body, or
``multipart/form-data`` with one or more ``file`` fields; grayscale pixels 0..255) for image
models, or CSV rows (``text/csv``, one sample per row, optional header). The model file's input
pipeline (saved by ``lamina train``) turns them into model inputs as in training. Probabilities
come from :class:`lamina.workflow.predictor.Predictor`, the one inference path that ``lamina
predict`` and ``lamina evaluate`` use too (a final Softmax, LogSoftmax or Sigmoid is respected;
logits get the softmax p_k = exp(z_k - max z) / sum_j exp(z_j - max z), eq 4.5); labels are the
argmax, as the original class names when the file stores them.

Bad requests get a 4xx answer ``{"detail": "..."}`` saying what was wrong; bodies over 10 MB get
413. The model is loaded once (a model with NaN or infinite weights is refused at start);
predictions run in eval mode under ``no_grad`` (grad mode is per thread, so no graph is built and
the layers' no-grad fast paths run) one at a time, since the compiled kernels behind some ops
are not re-entrant. ``POST /predict`` is a plain ASGI endpoint (:class:`PredictService`) that
does small work on the event loop and large work in a worker thread, optionally micro-batching
concurrent requests; ``serve(..., workers=N)`` runs N processes. FastAPI and uvicorn are
imported only by the functions here, so ``import lamina`` does not need them.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import functools
import io
import json
import math
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.models import check_input_shape, infer_input_shape, model_dtype
from lamina.nn.module import Module
from lamina.workflow import predictor as inference

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_BATCH = 1024
# Over-limit bodies are read (and dropped) up to this size so the client gets its 413 rather
# than a reset connection; a larger body is cut off.
_DRAIN_BYTES = 64 * 1024 * 1024
# Connection limits (seconds): an idle keep-alive connection is closed after KEEP_ALIVE_S; a
# client must send a request's complete headers within HEADER_TIMEOUT_S of connecting (or of
# the previous response); on SIGTERM / Ctrl-C, requests in flight get SHUTDOWN_S to finish,
# then the server exits whatever the clients do.
KEEP_ALIVE_S = 5.0
HEADER_TIMEOUT_S = 10.0
SHUTDOWN_S = 5.0
# The HTTP parser's limit on one request's headers.
MAX_HEADER_BYTES = 64 * 1024
# Work done on the event loop rather than in a worker thread (see PredictService): parsing a
# body of at most INLINE_MAX_BODY_BYTES (one MNIST image is ~3 KB of JSON, ~0.5 KB of PNG), a
# model call estimated to take at most INLINE_MAX_SECONDS.
INLINE_MAX_BODY_BYTES = 64 * 1024
INLINE_MAX_SECONDS = 0.002
# Micro-batching (lamina serve --batch-window-ms W --max-batch B): the longest window accepted
# and the default largest batch.
MAX_WINDOW_MS = 1000.0
DEFAULT_MAX_BATCH = 32
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Classes built on first use, as they subclass fastapi's and uvicorn's (imported only then).
_BUILT: dict[str, type] = {}
_CONTENT_TYPES = ("application/json", "image/png", "text/csv", "multipart/form-data")


class RequestError(ValueError):
    """A client error: ``status`` is the HTTP status, the message the ``detail``."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status


# ----------------------------------------------------------------------------- the model
class Predictor:
    """A loaded model and what turns raw request data into its inputs and its outputs into
    answers: the server's side of :class:`lamina.workflow.predictor.Predictor` (attribute
    ``predictor``), which runs the model and gives the probabilities.

    Requests carry *raw* samples, as the training data had them: pixels 0..255 for a model
    trained with an image pipeline, table rows for a tabular one. The model file's fitted input
    pipeline (``lamina train`` saves it) maps them to model inputs exactly as in training; a
    model without a pipeline receives the numbers unchanged (PNG pixels as 0..255), as with
    ``lamina predict``.

    Args:
        model: the network; a private copy is put in eval mode with frozen parameters.
        input_shape: one model input's shape; ``None`` takes the pipeline's, else infers it
            from the first layer (``lm.models.infer_input_shape``).
        classes: the original labels, ``classes[i]`` for output ``i``; ``None`` for indices.
        pipeline: a fitted input pipeline (``transform``; ``kind`` ``"image"``, ``"array"`` or
            ``"tabular"`` with ``features``), or ``None``.
        metadata: the model file's metadata (reported by ``/model``).
    """

    def __init__(self, model: Module, input_shape: Sequence[int] | None = None,
                 classes: Sequence | None = None, pipeline: Any = None,
                 metadata: dict | None = None):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        inference.check_finite_weights(self.model, "serve: refusing a model whose training "
                                                   "diverged")
        self.metadata = dict(metadata or {})
        self.pipeline = pipeline
        self.kind = getattr(pipeline, "kind", None) if pipeline is not None else None
        if input_shape is None and self.kind in ("image", "array", "tabular"):
            input_shape = pipeline.input_shape
        if input_shape is None:
            input_shape, _ = infer_input_shape(self.model, self.metadata)
        self.input_shape = check_input_shape(input_shape, "serve")
        self.columns = [str(c) for c in pipeline.features] if self.kind == "tabular" else None
        self.sample_shape = (len(self.columns),) if self.columns else self.input_shape
        self.features = math.prod(self.sample_shape)
        self.dtype = model_dtype(self.model)
        self.predictor = inference.Predictor(self.model, eval_only=True)
        self.output_kind = self.predictor.kind
        probe = np.zeros((1, *self.input_shape), self.dtype)
        self.num_outputs = int(self.predictor.outputs(probe).shape[1])
        #: the batch-1 forward pass's time in seconds (the best of three, after the trial
        #: pass above): the server's estimate of a call's cost (see PredictService)
        self.sample_seconds = _best_time(lambda: self.predictor.outputs(probe), 3)
        self.classes = None if classes is None else _json_list(classes)
        if self.classes is not None and len(self.classes) != max(self.num_outputs, 2):
            raise ValueError(f"Predictor: {len(self.classes)} class names for a model with "
                             f"{self.num_outputs} outputs")
        self.image_size = None if self.columns else _image_size(self.input_shape)

    def model_inputs(self, raw) -> np.ndarray:
        """Raw samples (an array, or a DataFrame for a tabular model) -> model inputs.

        Raises:
            RequestError: the pipeline rejects the samples (422, its message).
        """
        if self.pipeline is None:
            return np.asarray(raw, dtype=np.float64).reshape(len(raw), *self.input_shape)
        try:
            with np.errstate(over="ignore"):  # overflow to infinity is answered below
                x = np.asarray(self.pipeline.transform(raw), dtype=np.float64)
        except (ValueError, TypeError, KeyError) as exc:
            raise RequestError(422, f"the model's input pipeline rejected the inputs: "
                                    f"{str(exc).strip(chr(34) + chr(39))}") from None
        if not _peak(x) <= _largest(self.dtype):  # (one pass; NaN compares False)
            if np.isnan(x).any():
                raise RequestError(422, "the inputs hold NaN after the model's input pipeline "
                                        "(a missing value?)")
            raise RequestError(422, f"the inputs hold a number too large for the model's "
                                    f"{self.dtype} after its input pipeline (it would overflow "
                                    f"to infinity)")
        return x.reshape(len(x), *self.input_shape)

    def predict(self, raw) -> dict[str, list]:
        """Labels and class probabilities of a batch of raw samples.

        Returns:
            ``{"labels": [N labels], "probabilities": [N lists of C floats]}``; probabilities
            as :func:`lamina.workflow.predictor.probabilities` gives them.
        """
        return self.answer(self.predictor.predict_proba(self.model_inputs(raw)))

    def answer(self, probabilities: np.ndarray) -> dict[str, list]:
        """``{"labels": [...], "probabilities": [...]}`` of class probabilities ``(N, C)``: the
        labels are the argmax, as class names when the model file has them."""
        indices = probabilities.argmax(axis=1)
        labels = indices.tolist() if self.classes is None else [self.classes[i] for i in indices]
        return {"labels": labels, "probabilities": probabilities.tolist()}

    def describe(self) -> dict[str, Any]:
        """What ``GET /model`` answers."""
        layers = [{"name": name, "type": type(m).__name__, "repr": repr(m),
                   "parameters": int(sum(p.numel() for p in m.parameters()))}
                  for name, m in self.model.named_modules() if not m._modules]
        accepts = ["application/json", "text/csv"]
        if self.image_size is not None:
            accepts += ["image/png", "multipart/form-data"]
        raw = {"image": "pixels 0..255, normalised by the model's image pipeline",
               "array": "raw features, standardised by the model's input pipeline",
               "tabular": "table rows (column names in 'columns'), encoded by the model's "
                          "input pipeline",
               None: "model inputs, unchanged (PNG pixels as 0..255)"}
        return {
            "model": type(self.model).__name__,
            "architecture": repr(self.model),
            "layers": layers,
            "config": _json_safe(self.metadata.get("config")),
            "input_shape": list(self.input_shape),
            "sample_shape": list(self.sample_shape),
            "columns": self.columns,
            "inputs": raw.get(self.kind, raw[None]),
            "pipeline": _json_safe(self.pipeline.to_config())
            if hasattr(self.pipeline, "to_config") else None,
            "image_size": None if self.image_size is None else list(self.image_size),
            "num_outputs": self.num_outputs,
            "classes": self.classes if self.classes is not None
            else list(range(max(self.num_outputs, 2))),
            "parameters": int(sum(p.numel() for p in self.model.parameters())),
            "dtype": str(self.dtype),
            "accepts": accepts,
            "max_batch": MAX_BATCH,
            "max_body_bytes": MAX_BODY_BYTES,
            "metadata": _json_safe(self.metadata),
        }


def _best_time(call, repeats: int) -> float:
    """The shortest of ``repeats`` timed calls of ``call()``, seconds."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def _peak(x: np.ndarray) -> float:
    """The largest absolute value of float64 ``x`` (0 when empty; NaN when it holds NaN)."""
    return float(np.abs(x).max()) if x.size else 0.0


@functools.lru_cache(maxsize=8)
def _largest(dtype: np.dtype) -> float:
    """The largest finite value of the model's ``dtype`` (float64's for a non-float dtype):
    float64 inputs above it overflow to infinity in the model."""
    dtype = np.dtype(dtype)
    return float(np.finfo(dtype if dtype.kind == "f" else np.float64).max)


def _image_size(input_shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(height, width) of a grayscale image model: input (1, H, W), (H, W), or (H*W,) for a
    square image of at least 8 x 8 flattened; ``None`` for other inputs."""
    if len(input_shape) == 3 and input_shape[0] == 1:
        return input_shape[1], input_shape[2]
    if len(input_shape) == 2:
        return input_shape
    side = math.isqrt(input_shape[0]) if len(input_shape) == 1 else 0
    return (side, side) if side >= 8 and side * side == input_shape[0] else None


def _json_list(values) -> list:
    return [v.item() if isinstance(v, np.generic) else v for v in list(values)]


def _json_safe(value):
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)


def load_predictor(model_path) -> Predictor:
    """A :class:`Predictor` for a file written by ``lm.save`` or ``lamina train``, read as
    ``lamina predict`` reads it (:func:`lamina.workflow.model_file.load_model`): metadata
    ``input_shape``, ``classes`` and ``pipeline``, or the stored label encoder.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is corrupt or not a lamina model (``lm.load``'s message).
    """
    from lamina.workflow.model_file import load_model

    loaded = load_model(model_path)
    return Predictor(loaded.model, loaded.input_shape, loaded.classes, loaded.pipeline,
                     loaded.metadata)


# ----------------------------------------------------------------------------- request bodies
def parse_json(body: bytes, predictor: Predictor):
    """``{"inputs": [...]}`` -> raw samples: ``(N, *sample_shape)`` floats, or a DataFrame of
    rows (objects by column name, or lists in column order) for a tabular model."""
    try:
        document = _loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"body is not valid JSON ({exc}); send "
                                f'{{"inputs": [sample, ...]}}') from None
    except RecursionError:
        raise RequestError(400, "body is JSON nested too deeply to be a batch of samples"
                           ) from None
    if not isinstance(document, dict) or "inputs" not in document:
        got = (f"an object with keys {sorted(document)}" if isinstance(document, dict)
               else f"a JSON {type(document).__name__}")
        raise RequestError(422, f'expected a JSON object {{"inputs": [sample, ...]}}, got {got}')
    inputs = document["inputs"]
    if not isinstance(inputs, list):
        raise RequestError(422, f'"inputs" must be a list of samples, got a JSON '
                                f"{type(inputs).__name__}")
    _check_batch_size(len(inputs))
    if predictor.columns is not None:
        return _json_table(inputs, predictor)
    try:
        array = np.array(inputs)
    except ValueError:
        raise RequestError(422, f'"inputs" is ragged: every sample must have shape '
                                f"{predictor.sample_shape} (or {predictor.features} numbers)"
                           ) from None
    if array.dtype == object and all(type(v) in (int, float, bool) for v in array.flat):
        # integers beyond 64 bits (orjson reads them as floats: the same answer either way)
        with contextlib.suppress(OverflowError):
            array = array.astype(np.float64)
    if array.dtype.kind not in "iuf":
        raise RequestError(422, '"inputs" must hold only numbers (no strings, booleans, null '
                                "or ragged lists)")
    return _check_batch(array, predictor, "inputs")


def _loads(body: bytes):
    """``json.loads(body)``, by orjson when it is installed (extra ``lamina[serve]``: several
    times faster on arrays of numbers). A body that orjson refuses (not JSON, NaN literals,
    integers beyond 64 bits, not UTF-8, nested too deeply, ...) is read by ``json.loads``,
    so every answer and error message is json's."""
    orjson = _orjson()
    if orjson is not None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)


@functools.cache
def _orjson():
    try:
        import orjson
    except ImportError:
        return None
    return orjson


def _json_table(inputs: list, predictor: Predictor):
    """Rows of a tabular model as a DataFrame; cells may be numbers, strings or null."""
    columns = predictor.columns
    rows = []
    for number, row in enumerate(inputs):
        if isinstance(row, dict):
            missing = [c for c in columns if c not in row]
            if missing:
                raise RequestError(422, f"inputs[{number}] lacks the columns {missing}; the "
                                        f"model takes {columns}")
            row = [row[c] for c in columns]
        if not isinstance(row, list) or len(row) != len(columns):
            raise RequestError(422, f"inputs[{number}] must be an object with the columns "
                                    f"{columns} or a list of {len(columns)} values")
        if any(isinstance(v, (list, dict, bool)) for v in row):
            raise RequestError(422, f"inputs[{number}]: cells must be numbers, strings or null")
        if any(isinstance(v, float) and not math.isfinite(v) for v in row):
            raise RequestError(422, f"inputs[{number}] holds NaN or infinity")
        rows.append(row)
    from lamina.tabular import require_pandas

    return require_pandas().DataFrame(rows, columns=columns)


def parse_csv(body: bytes, predictor: Predictor):
    """CSV rows (an optional header row) -> raw samples of ``prod(sample_shape)`` numbers, or a
    DataFrame for a tabular model (header with the column names, or columns in order)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RequestError(400, "CSV body is not UTF-8 text") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    if predictor.columns is not None:
        return _csv_table(body, rows, predictor)
    if rows and not any(_is_number(c) for c in rows[0]):
        rows = rows[1:]  # a header
    _check_batch_size(len(rows))
    values = []
    for number, row in enumerate(rows, start=1):
        if len(row) != predictor.features:
            raise RequestError(422, f"CSV row {number} has {len(row)} values, expected "
                                    f"{predictor.features} (sample shape "
                                    f"{predictor.sample_shape})")
        try:
            values.append([float(cell) for cell in row])
        except ValueError:
            bad = next(c for c in row if not _is_number(c))
            raise RequestError(422, f"CSV row {number}: {bad!r} is not a number") from None
    return _check_batch(np.array(values), predictor, "CSV rows")


def _csv_table(body: bytes, rows: list[list[str]], predictor: Predictor):
    """A tabular model's CSV, read by pandas as ``lamina predict`` reads its file: a header row
    naming (at least) the model's columns, or rows holding exactly those columns in order."""
    from lamina.tabular import require_pandas

    pd = require_pandas()
    columns = predictor.columns
    has_header = bool(rows) and set(columns) <= {c.strip() for c in rows[0]}
    if rows and not has_header and len(rows[0]) != len(columns):
        raise RequestError(422, f"CSV rows must hold the columns {columns} in this order, or "
                                f"start with a header naming them; row 1 has {len(rows[0])} "
                                f"values")
    try:
        frame = pd.read_csv(io.BytesIO(body), header=0 if has_header else None,
                            names=None if has_header else columns, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise RequestError(422, f"CSV body is not a valid table: {' '.join(str(exc).split())}"
                           ) from None
    _check_batch_size(len(frame))
    return frame


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def parse_png(images: Sequence[bytes], predictor: Predictor) -> np.ndarray:
    """PNG files -> a batch of grayscale pixels 0..255, as ``lamina predict`` reads them (the
    model's image pipeline then normalises them).

    Raises:
        RequestError: 415 when the model does not take images, 422 for bytes that are not a PNG
            or an image whose size is not the model's (the message names both sizes).
    """
    if predictor.image_size is None:
        raise RequestError(415, f"this model takes samples of shape {predictor.sample_shape}, "
                                f"not images; send JSON or CSV")
    _check_batch_size(len(images))
    from PIL import Image, UnidentifiedImageError

    height, width = predictor.image_size
    batch = []
    for number, data in enumerate(images, start=1):
        if not data.startswith(_PNG_SIGNATURE):
            raise RequestError(422, f"image {number} is not a PNG file (it does not start with "
                                    f"the PNG signature)")
        if data[12:16] == b"IHDR" and len(data) >= 24:  # the header chunk, first in every PNG
            # its size is judged before Pillow reads it: no decompression-bomb warning (a
            # process-wide filter) can come, and no wrong-sized image is decoded
            declared = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
            if Image.MAX_IMAGE_PIXELS and declared[0] * declared[1] > Image.MAX_IMAGE_PIXELS:
                raise RequestError(413, _bomb_message(number, width, height))
            if declared != (width, height):
                raise RequestError(422, _size_message(number, declared, width, height))
        try:
            image = Image.open(io.BytesIO(data), formats=["PNG"])
        except Image.DecompressionBombError:
            raise RequestError(413, _bomb_message(number, width, height)) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise RequestError(422, f"image {number} is not a readable PNG: {exc}") from None
        try:
            with image:
                if Image.MAX_IMAGE_PIXELS and \
                        image.size[0] * image.size[1] > Image.MAX_IMAGE_PIXELS:  # (IHDR not first)
                    raise RequestError(413, _bomb_message(number, width, height))
                if image.size != (width, height):
                    raise RequestError(422, _size_message(number, image.size, width, height))
                gray = image if image.mode == "L" else image.convert("L")
                pixels = np.asarray(gray, dtype=np.float64)
        except RequestError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise RequestError(422, f"image {number} is not a readable PNG: {exc}") from None
        batch.append(pixels.reshape(predictor.sample_shape))
    return np.stack(batch)


def _bomb_message(number: int, width: int, height: int) -> str:
    from PIL import Image

    return (f"image {number} declares more pixels than Pillow's decompression-bomb limit "
            f"({Image.MAX_IMAGE_PIXELS:,}); the model takes {width}x{height} images")


def _size_message(number: int, size: tuple[int, int], width: int, height: int) -> str:
    return f"image {number} is {size[0]}x{size[1]} pixels, expected {width}x{height} (grayscale)"


def _check_batch_size(n: int) -> None:
    if n == 0:
        raise RequestError(422, "the batch is empty: send at least one sample")
    if n > MAX_BATCH:
        raise RequestError(413, f"the batch has {n} samples, more than the limit of {MAX_BATCH}; "
                                f"split it into several requests")


def _check_batch(array: np.ndarray, predictor: Predictor, what: str) -> np.ndarray:
    shape, features = predictor.sample_shape, predictor.features
    accepted = {shape, (features,)}
    if predictor.image_size is not None:
        accepted.add(predictor.image_size)
    if array.shape[1:] not in accepted:
        if array.shape in accepted:
            raise RequestError(422, f"{what} must be a batch (a list of samples); got one "
                                    f"sample of shape {array.shape}: wrap it in a list")
        if array.ndim == 1:
            raise RequestError(422, f"{what} must be a list of samples, each of shape {shape}; "
                                    f"received a flat list of {array.size} numbers")
        raise RequestError(422, f"{what}: each sample must have shape {shape} (or "
                                f"{features} numbers flattened), received a batch of shape "
                                f"{array.shape}")
    array = array.astype(np.float64)
    peak = _peak(array)
    if not peak <= _largest(np.float64):  # (NaN compares False)
        bad = np.argwhere(~np.isfinite(array.reshape(len(array), -1)))[0]
        raise RequestError(422, f"{what}: sample {bad[0]} holds NaN or infinity (at flat index "
                                f"{bad[1]}); only finite numbers are accepted")
    if predictor.pipeline is None and peak > _largest(predictor.dtype):
        limit = _largest(predictor.dtype)
        bad = np.argwhere(np.abs(array.reshape(len(array), -1)) > limit)[0]
        value = array.reshape(len(array), -1)[bad[0], bad[1]]
        raise RequestError(422, f"{what}: sample {bad[0]} holds {value:g} (at flat index "
                                f"{bad[1]}), beyond the range of the model's {predictor.dtype} "
                                f"(largest {limit:.4g}): it would overflow to infinity")
    return array.reshape(len(array), *shape)


# ----------------------------------------------------------------------------- the app
_OPENAPI_BODY = {
    "required": True,
    "description": (
        "A batch of samples, as JSON, PNG images or CSV rows. Bodies over 10 MB get 413; "
        f"batches over {MAX_BATCH} samples get 413."),
    "content": {
        "application/json": {
            "schema": {"type": "object", "required": ["inputs"], "properties": {"inputs": {
                "type": "array", "items": {},
                "description": "samples, each in the model's input shape (GET /model) or "
                               "flattened to it"}}},
            "example": {"inputs": [[0.0, 0.5, 1.0]]}},
        "image/png": {"schema": {"type": "string", "format": "binary",
                                 "description": "one grayscale PNG of the model's image size "
                                                "(28x28 for MNIST models); pixels / 255"}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "array",
                                    "items": {"type": "string", "format": "binary"},
                                    "description": "one or more PNG files (field 'file')"}}}},
        "text/csv": {"schema": {"type": "string",
                                "description": "one sample per row, prod(input_shape) numbers, "
                                               "optional header row"},
                     "example": "f1,f2,f3\n0.0,0.5,1.0\n"},
    },
}
_PREDICT_RESPONSES = {
    200: {"description": "labels and class probabilities", "content": {"application/json": {
        "example": {"labels": [7], "probabilities": [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
                                                       0.0, 0.0]]}}}},
    400: {"description": "body not JSON / not UTF-8 / malformed multipart"},
    413: {"description": "body over 10 MB or batch over the limit"},
    415: {"description": "unsupported Content-Type (or images for a non-image model)"},
    422: {"description": "wrong shape, NaN or infinity, non-numbers, empty batch, bad image"},
}


class _Disconnected(Exception):
    """The client went away before its request body was complete."""


async def _read_body(receive, declared: str | None) -> bytes:
    """The request body from the ASGI ``receive``, at most ``MAX_BODY_BYTES``; 413 beyond (the
    declared Content-Length or the real size)."""
    too_large = declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES
    if too_large and int(declared) > _DRAIN_BYTES:
        raise RequestError(413, f"body of {declared} bytes is over the 10 MB limit "
                                f"({MAX_BODY_BYTES} bytes)")
    chunks, total = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        total += len(chunk)
        too_large = too_large or total > MAX_BODY_BYTES
        if too_large and total > _DRAIN_BYTES:
            break
        if not too_large and chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if too_large:
        raise RequestError(413, f"body of {declared or f'over {total}'} bytes is over the 10 MB "
                                f"limit ({MAX_BODY_BYTES} bytes)")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _form_files(scope: dict, body: bytes) -> list[bytes]:
    """The ``file`` parts of a multipart body that was already read."""
    from starlette.requests import Request

    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(scope, receive).form()
    except Exception as exc:  # starlette's MultiPartException and parser errors
        raise RequestError(400, f"malformed multipart/form-data body: {exc}") from None
    try:
        parts = form.getlist("file")
        if not parts:
            raise RequestError(422, f"multipart body needs a field 'file' with a PNG image; got "
                                    f"fields {sorted(set(form.keys()))}")
        files = []
        for part in parts:
            if isinstance(part, str):
                raise RequestError(422, "field 'file' must be a file upload, got a text field")
            files.append(await part.read())
        return files
    finally:
        await form.close()


def _json_bytes(answer: dict) -> bytes:
    """``answer`` as compact UTF-8 JSON (the bytes starlette's ``JSONResponse`` sends)."""
    return json.dumps(answer, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode()


class PredictService:
    """``POST /predict`` as a plain ASGI endpoint: a request's body is read, parsed, turned into
    model inputs, run and answered, with no web-framework layer in between (FastAPI's
    middleware, routing, request objects and dependency solving cost more than LeNet-5's
    forward pass).

    Where the work runs: small work on the event loop itself. A body of at most
    :data:`INLINE_MAX_BODY_BYTES` is parsed there, and the model runs there when its estimated
    time (samples x the batch-1 time measured at start, ``Predictor.sample_seconds``) is at most
    :data:`INLINE_MAX_SECONDS` and no model call is running in a worker thread. Larger work goes
    to a worker thread, so that the loop keeps answering other connections meanwhile. (Handing
    every request to a thread, as before, cost more than the work itself: the hop and the GIL
    passing back and forth between the threads.) Either way the model runs through
    :class:`lamina.workflow.predictor.Predictor` under ``no_grad``, one call at a time.

    With ``batch_window_ms > 0``, the inputs of concurrent requests are micro-batched
    (:class:`lamina.workflow.microbatch.MicroBatcher`): a request waits up to that many
    milliseconds for others, and up to ``max_batch`` samples run as one forward pass.

    Args:
        predictor: the served model.
        batch_window_ms: the micro-batching window in milliseconds; 0 turns it off.
        max_batch: the most samples of one micro-batch.

    Raises:
        ValueError: ``batch_window_ms`` not a finite number in [0, MAX_WINDOW_MS], or
            ``max_batch`` not an int in [1, MAX_BATCH].
    """

    def __init__(self, predictor: Predictor, batch_window_ms: float = 0.0,
                 max_batch: int = DEFAULT_MAX_BATCH):
        check_batching(batch_window_ms, max_batch)
        self.predictor = predictor
        self._offloaded = 0  # model calls running in worker threads
        self.batcher = None
        if batch_window_ms > 0:
            from lamina.workflow.microbatch import MicroBatcher

            self.batcher = MicroBatcher(self._probabilities, batch_window_ms / 1000.0,
                                        max_batch)

    async def __call__(self, scope: dict, receive, send) -> None:
        answer = await self.respond(scope, receive)
        if answer is None:
            return
        status, body = answer
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(body)).encode()),
                                (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    async def respond(self, scope: dict, receive) -> tuple[int, bytes] | None:
        """(HTTP status, JSON body) of a ``POST /predict``; ``None`` when the client left."""
        try:
            status, answer = 200, await self._answer(scope, receive)
            return status, _json_bytes(answer)
        except _Disconnected:
            return None
        except RequestError as exc:
            status, answer = exc.status, {"detail": str(exc)}
        except Exception as exc:
            import logging

            logging.getLogger("uvicorn.error").exception("POST /predict failed")
            status, answer = 500, {"detail": f"internal error ({type(exc).__name__}); the "
                                             f"server keeps running"}
        return status, _json_bytes(answer)

    async def _answer(self, scope: dict, receive) -> dict[str, list]:
        content_type, declared = "", None
        for name, value in scope["headers"]:
            if name == b"content-type" and not content_type:
                content_type = value.decode("latin-1").split(";")[0].strip().lower()
            elif name == b"content-length" and declared is None:
                declared = value.decode("latin-1")
        if content_type not in _CONTENT_TYPES:
            raise RequestError(415, f"Content-Type {content_type or '(none)'!r} is not accepted; "
                                    f"use one of {', '.join(_CONTENT_TYPES)}")
        body = await _read_body(receive, declared)
        predictor = self.predictor
        if content_type == "multipart/form-data":
            files = await _form_files(scope, body)
            size = sum(map(len, files))
            parse = functools.partial(_images_inputs, predictor, files)
        elif not body:
            raise RequestError(422, "the body is empty: send a batch of samples")
        else:
            size = len(body)
            parse = functools.partial(_body_inputs, predictor, content_type, body)
        if size <= INLINE_MAX_BODY_BYTES:
            x = parse()
        else:
            from starlette.concurrency import run_in_threadpool

            x = await run_in_threadpool(parse)
        if self.batcher is not None:
            probabilities = await self.batcher.submit(x)
        else:
            probabilities = await self._probabilities(x)
        return predictor.answer(probabilities)

    async def _probabilities(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities of model inputs ``x``, computed on the loop or in a thread."""
        model = self.predictor.predictor
        if not self._offloaded and len(x) * self.predictor.sample_seconds <= INLINE_MAX_SECONDS:
            return model.predict_proba(x)
        from starlette.concurrency import run_in_threadpool

        self._offloaded += 1
        try:
            return await run_in_threadpool(model.predict_proba, x)
        finally:
            self._offloaded -= 1


def _images_inputs(predictor: Predictor, files: list[bytes]) -> np.ndarray:
    return predictor.model_inputs(parse_png(files, predictor))


def _body_inputs(predictor: Predictor, content_type: str, body: bytes) -> np.ndarray:
    if content_type == "application/json":
        batch = parse_json(body, predictor)
    elif content_type == "text/csv":
        batch = parse_csv(body, predictor)
    else:
        batch = parse_png([body], predictor)
    return predictor.model_inputs(batch)


def check_batching(batch_window_ms: float, max_batch: int) -> None:
    """Check the micro-batching settings of :class:`PredictService` (``lamina serve
    --batch-window-ms W --max-batch B``).

    Raises:
        ValueError: ``batch_window_ms`` is not a finite number of milliseconds in
            [0, :data:`MAX_WINDOW_MS`], or ``max_batch`` is not an int in [1, :data:`MAX_BATCH`].
    """
    if isinstance(batch_window_ms, bool) or not isinstance(batch_window_ms, (int, float)) or \
            not 0 <= batch_window_ms <= MAX_WINDOW_MS:  # (False for NaN)
        raise ValueError(f"serve: the batch window must be a number of milliseconds from 0 (no "
                         f"micro-batching) to {MAX_WINDOW_MS:g}, received {batch_window_ms!r}")
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or \
            not 1 <= max_batch <= MAX_BATCH:
        raise ValueError(f"serve: the largest micro-batch must be an int from 1 to {MAX_BATCH} "
                         f"samples, received {max_batch!r}")


def create_app(model_path=None, *, model: Module | None = None,
               predictor: Predictor | None = None, batch_window_ms: float = 0.0,
               max_batch: int = DEFAULT_MAX_BATCH):
    """The FastAPI application serving one model.

    Args:
        model_path: a file written by ``lm.save``.
        model: a Module to serve instead of a file (input shape inferred from its first layer).
        predictor: a ready :class:`Predictor` (model, input shape, label encoder) instead.
        batch_window_ms: micro-batch concurrent ``/predict`` requests within this many
            milliseconds (0: each request runs alone); see :class:`PredictService`.
        max_batch: the most samples of one micro-batch.

    Returns:
        A ``fastapi.FastAPI`` app with ``/health``, ``/model`` and ``/predict`` (a plain ASGI
        route, :class:`PredictService`, documented in ``/openapi.json`` like the others).

    Raises:
        ValueError: none or several of ``model_path``, ``model``, ``predictor`` given, the
            model file cannot be read, or a batching setting is out of range.
    """
    from fastapi.responses import JSONResponse

    given = [x is not None for x in (model_path, model, predictor)]
    if sum(given) != 1:
        raise ValueError("create_app: pass exactly one of model_path, model or predictor")
    check_batching(batch_window_ms, max_batch)
    if predictor is None:
        predictor = load_predictor(model_path) if model_path is not None else Predictor(model)

    service = PredictService(predictor, batch_window_ms, max_batch)
    app = _server_class()(service, title="lamina model server",
                          description=__doc__.split("\n\n", 1)[0] + " Input formats: see POST "
                                                                     "/predict.",
                          version=_version())
    app.state.predictor = predictor
    app.state.predict_service = service

    # Answers are built as JSONResponse directly: no response-model validation per request.
    description = JSONResponse(predictor.describe())

    @app.get("/health", summary="Liveness check", responses={200: {"content": {
        "application/json": {"example": {"status": "ok"}}}}})
    async def health():
        return JSONResponse({"status": "ok"})

    @app.get("/model", summary="The served model: layers, input shape, classes, parameters")
    async def describe():
        return description

    app.add_route("/predict", service, methods=["POST"], include_in_schema=False)
    _document_predict(app)
    return app


def _server_class() -> type:
    """The app's class: FastAPI, answering ``POST /predict`` (:class:`PredictService`) before
    its middleware stack and router when no middleware was added (``app.add_middleware``);
    then FastAPI's per-request machinery (the middleware stack, matching the path against
    every route, its telemetry hook) is skipped for the endpoint that carries the load.
    Otherwise ``/predict`` goes through them to the same service, as a plain route."""
    if "ModelServer" in _BUILT:
        return _BUILT["ModelServer"]
    from fastapi import FastAPI

    class ModelServer(FastAPI):
        def __init__(self, predict_service: PredictService, **options):
            super().__init__(**options)
            self.predict_service = predict_service

        async def __call__(self, scope, receive, send) -> None:
            if scope["type"] == "http" and scope["method"] == "POST" and \
                    not self.user_middleware and _route_path(scope) == "/predict":
                await self.predict_service(scope, receive, send)
            else:
                await super().__call__(scope, receive, send)

    _BUILT["ModelServer"] = ModelServer
    return ModelServer


def _route_path(scope: dict) -> str:
    """The request's path below the app's ``root_path`` (as starlette's router matches it)."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root + "/") else path


def _document_predict(app) -> None:
    """Add ``POST /predict`` (a plain ASGI route, which FastAPI does not document) to the app's
    OpenAPI schema: the body formats of :data:`_OPENAPI_BODY`, the answers of
    :data:`_PREDICT_RESPONSES`."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            schema.setdefault("paths", {})["/predict"] = {"post": {
                "summary": "Predict labels and probabilities for a batch",
                "operationId": "predict_predict_post",
                "requestBody": _OPENAPI_BODY,
                "responses": {str(code): {"description": r["description"],
                                          **({"content": r["content"]} if "content" in r else {})}
                              for code, r in _PREDICT_RESPONSES.items()},
            }}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def _version() -> str:
    import lamina

    return lamina.__version__


# ----------------------------------------------------------------------------- running it
def uvicorn_config(app, **options):
    """A ``uvicorn.Config`` for ``app`` with the server's connection limits
    (:func:`_limits`); ``options`` go to ``uvicorn.Config`` (its ``loop="auto"`` takes uvloop
    when installed)."""
    import uvicorn

    return uvicorn.Config(app, **{**_limits(), **options})


def _limits() -> dict[str, Any]:
    """uvicorn's settings for the server's connection limits: keep-alive
    (:data:`KEEP_ALIVE_S`), header (:data:`HEADER_TIMEOUT_S`) and shutdown (:data:`SHUTDOWN_S`)
    timeouts and :data:`MAX_HEADER_BYTES`, over the fastest HTTP parser installed
    (:func:`http_protocol`)."""
    return {"timeout_keep_alive": KEEP_ALIVE_S, "timeout_graceful_shutdown": SHUTDOWN_S,
            "h11_max_incomplete_event_size": MAX_HEADER_BYTES, "http": http_protocol()}


def http_protocol(parser: str = "auto"):
    """uvicorn's HTTP protocol class over ``parser`` ("httptools", "h11", or "auto": httptools
    when installed, it parses a request several times faster than h11) with the server's
    header limits:

    - a connection that has not sent a request's complete headers :data:`HEADER_TIMEOUT_S`
      seconds after it opened or after its last response is closed (uvicorn's own keep-alive
      timer stops at the first byte, so a client sending headers slowly would hold it forever);
    - headers over :data:`MAX_HEADER_BYTES` get 400 and the connection is closed (h11 counts
      them itself; for httptools the bytes received while no request is open are counted).

    Raises:
        ValueError: an unknown ``parser``.
        ImportError: ``parser="httptools"`` and it is not installed.
    """
    if parser not in ("auto", "httptools", "h11"):
        raise ValueError(f"http_protocol: parser must be 'auto', 'httptools' or 'h11', "
                         f"received {parser!r}")
    if parser == "auto":
        import importlib.util

        parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    if parser not in _BUILT:
        _BUILT[parser] = _limited_protocol(parser)
    return _BUILT[parser]



def _limited_protocol(parser: str) -> type:
    """uvicorn's protocol class for ``parser`` with the limits of :func:`http_protocol`."""
    if parser == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base

    class LimitedProtocol(Base):
        _header_timer = None
        _idle_bytes = 0  # bytes received since the last request was complete (httptools)

        def connection_made(self, transport) -> None:
            super().connection_made(_CoalescingTransport(transport, self.loop))
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            busy = self._handling_request()
            super().data_received(data)
            if self._handling_request():
                self._cancel_header_timer()
                self._idle_bytes = 0
            elif parser == "httptools" and not busy and not self.transport.is_closing():
                self._idle_bytes += len(data)
                if self._idle_bytes > MAX_HEADER_BYTES:
                    self.send_400_response("Request headers too large.")

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._idle_bytes = 0
            self._arm_header_timer()

        def connection_lost(self, exc) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _handling_request(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            if not self.transport.is_closing():
                self._header_timer = self.loop.call_later(HEADER_TIMEOUT_S,
                                                          self._header_timeout)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if not self._handling_request() and not self.transport.is_closing():
                self.transport.close()

    LimitedProtocol.__name__ = LimitedProtocol.__qualname__ = f"Limited{Base.__name__}"
    return LimitedProtocol


class _CoalescingTransport:
    """A connection's transport whose writes of one event-loop step leave as one: uvicorn
    writes a response's head and body separately, two system calls (each also delivering a
    TCP segment to the peer) where one does. Everything else is the transport's own;
    ``close`` sends what is pending first."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport, loop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def writelines(self, lines) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


def serve(model_path, host: str = "127.0.0.1", port: int = 8000, *,
          batch_window_ms: float = 0.0, max_batch: int = DEFAULT_MAX_BATCH, workers: int = 1,
          blas_threads: int | None = 1, log_level: str = "info",
          access_log: bool = True) -> None:
    """``lamina serve MODEL [--host 127.0.0.1] [--port 8000] [--batch-window-ms W]
    [--max-batch B] [--workers N] [--blas-threads N] [--no-access-log]``: serve until
    interrupted (SIGTERM or Ctrl-C: requests in flight get :data:`SHUTDOWN_S` seconds, then the
    server exits).

    ``batch_window_ms`` and ``max_batch`` micro-batch concurrent requests (see
    :class:`PredictService`). ``workers > 1`` runs that many server processes on one socket
    (uvicorn's supervisor: the kernel spreads connections over them and a worker that dies is
    replaced), each with its own copy of the model: one Python process runs one thing at a
    time, so this is how the server uses several cores. The model is loaded (and checked) here
    first, so a bad file is one error before any worker starts.

    ``blas_threads`` limits the BLAS library's threads in each server process (through
    threadpoolctl, extra ``lamina[serve]``; ``None`` leaves them as they are). A server's
    parallelism comes from its requests and workers; BLAS threads split one small product
    and, while the cores are busy, spin-wait: on a busy 2-core machine, requests of 32 images
    took 5x the CPU time with OpenBLAS's default threads than with one.

    Raises:
        ValueError: a bad model file or setting (``workers`` or ``blas_threads`` not an int
            >= 1).
    """
    import uvicorn

    for name, value in (("workers", workers), ("blas_threads", blas_threads)):
        if value is None and name == "blas_threads":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"serve: {name} must be an int >= 1, received {value!r}")
    _limit_blas(blas_threads)
    app = create_app(model_path, batch_window_ms=batch_window_ms, max_batch=max_batch)
    batching = (f", micro-batching: {batch_window_ms:g} ms window, up to {max_batch} samples"
                if batch_window_ms else "")
    processes = f", {workers} worker processes" if workers > 1 else ""
    print(f"serving {model_path} on http://{host}:{port} (docs: http://{host}:{port}/docs"
          f"{batching}{processes})", flush=True)
    options = {"host": host, "port": port, "log_level": log_level, "access_log": access_log}
    if workers == 1:
        uvicorn.Server(uvicorn_config(app, **options)).run()
        return
    del app  # each worker builds its own from these settings (uvicorn's app factory)
    os.environ[_WORKER_SETTINGS] = json.dumps({
        "model_path": os.fspath(model_path), "batch_window_ms": batch_window_ms,
        "max_batch": max_batch, "blas_threads": blas_threads})
    uvicorn.run(f"{__name__}:_worker_app", factory=True, workers=workers,
                **{**_limits(), **options})


_WORKER_SETTINGS = "LAMINA_SERVE_WORKER_SETTINGS"


def _worker_app():
    """The app of one worker process of ``serve(..., workers=N)``, from the settings that
    :func:`serve` left in the environment."""
    settings = json.loads(os.environ[_WORKER_SETTINGS])
    _limit_blas(settings["blas_threads"])
    return create_app(settings["model_path"], batch_window_ms=settings["batch_window_ms"],
                      max_batch=settings["max_batch"])


def _limit_blas(threads: int | None) -> None:
    """Limit BLAS to ``threads`` threads in this process from now on (``None``: leave it); a
    note on stderr when threadpoolctl is not installed."""
    if threads is None:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import sys

        print(f"lamina serve: threadpoolctl is not installed, so BLAS keeps its own number of "
              f"threads instead of {threads} (pip install \"lamina[serve]\")", file=sys.stderr)
        return
    threadpool_limits(limits=threads, user_api="blas")


def __getattr__(name: str):
    # The protocol classes are built on first use (they subclass uvicorn's); naming them here
    # lets a worker process find them when it unpickles uvicorn's config.
    parsers = {"LimitedH11Protocol": "h11", "LimitedHttpToolsProtocol": "httptools"}
    if name in parsers:
        return http_protocol(parsers[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BackgroundServer:
    """Run an app with uvicorn in a daemon thread on a free port of ``host`` (tests, benches),
    with :func:`uvicorn_config`'s limits over the HTTP ``parser`` of :func:`http_protocol`.

    Example:
        >>> with BackgroundServer(create_app(model=net)) as url:  # doctest: +SKIP
        ...     httpx.get(url + "/health")
    """

    def __init__(self, app, host: str = "127.0.0.1", log_level: str = "warning",
                 parser: str = "auto"):
        import uvicorn

        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
        # without it, keep-alive responses wait for the client's delayed ACK (~40 ms each).
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, 0))
        self.url = f"http://{host}:{self.socket.getsockname()[1]}"
        config = uvicorn_config(app, log_level=log_level, access_log=False, lifespan="off",
                                http=http_protocol(parser))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self, timeout: float = 30.0) -> str:
        self.thread.start()
        waited = 0.0
        while not self.server.started:
            if not self.thread.is_alive() or waited > timeout:
                raise RuntimeError(f"BackgroundServer: uvicorn did not start on {self.url}")
            threading.Event().wait(0.01)
            waited += 0.01
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
