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
are not re-entrant. FastAPI and uvicorn are imported only by the functions here, so ``import
lamina`` does not need them.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations (Request,
# imported inside create_app) at definition time.
import copy
import csv
import io
import json
import math
import socket
import threading
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
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
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
        self.predictor = inference.Predictor(self.model)
        self.output_kind = self.predictor.kind
        self.num_outputs = int(self.predictor.outputs(np.zeros((1, *self.input_shape),
                                                               self.dtype)).shape[1])
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
        if np.isnan(x).any():
            raise RequestError(422, "the inputs hold NaN after the model's input pipeline (a "
                                    "missing value?)")
        if np.isinf(x).any() or _overflows(x, self.dtype):
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
        probabilities = self.predictor.predict_proba(self.model_inputs(raw))
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


def _overflows(x: np.ndarray, dtype: np.dtype) -> bool:
    """Whether finite float64 values would become infinite in the model's float ``dtype``."""
    return bool(x.size) and np.dtype(dtype).kind == "f" and \
        float(np.abs(x).max()) > float(np.finfo(dtype).max)


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
        document = json.loads(body)
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
    if array.dtype.kind not in "iuf":
        raise RequestError(422, '"inputs" must hold only numbers (no strings, booleans, null '
                                "or ragged lists)")
    return _check_batch(array, predictor, "inputs")


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
    import warnings

    from PIL import Image, UnidentifiedImageError

    height, width = predictor.image_size
    batch = []
    for number, data in enumerate(images, start=1):
        if not data.startswith(_PNG_SIGNATURE):
            raise RequestError(422, f"image {number} is not a PNG file (it does not start with "
                                    f"the PNG signature)")
        try:
            with warnings.catch_warnings():
                # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that: both refused
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data), formats=["PNG"])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise RequestError(413, f"image {number} declares more pixels than Pillow's "
                                    f"decompression-bomb limit ({Image.MAX_IMAGE_PIXELS:,}); the "
                                    f"model takes {width}x{height} images") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise RequestError(422, f"image {number} is not a readable PNG: {exc}") from None
        try:
            with image:
                if image.size != (width, height):
                    raise RequestError(422, f"image {number} is {image.size[0]}x{image.size[1]} "
                                            f"pixels, expected {width}x{height} (grayscale)")
                pixels = np.asarray(image.convert("L"), dtype=np.float64)
        except RequestError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise RequestError(422, f"image {number} is not a readable PNG: {exc}") from None
        batch.append(pixels.reshape(predictor.sample_shape))
    return np.stack(batch)


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
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array.reshape(len(array), -1)))[0]
        raise RequestError(422, f"{what}: sample {bad[0]} holds NaN or infinity (at flat index "
                                f"{bad[1]}); only finite numbers are accepted")
    if predictor.pipeline is None and _overflows(array, predictor.dtype):
        limit = float(np.finfo(predictor.dtype).max)
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


async def _read_body(request) -> bytes:
    """The request body, at most ``MAX_BODY_BYTES``; 413 beyond (the declared or real size)."""
    declared = request.headers.get("content-length")
    too_large = declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES
    if too_large and int(declared) > _DRAIN_BYTES:
        raise RequestError(413, f"body of {declared} bytes is over the 10 MB limit "
                                f"({MAX_BODY_BYTES} bytes)")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        too_large = too_large or total > MAX_BODY_BYTES
        if too_large and total > _DRAIN_BYTES:
            break
        if not too_large:
            chunks.append(chunk)
    if too_large:
        raise RequestError(413, f"body of {declared or f'over {total}'} bytes is over the 10 MB "
                                f"limit ({MAX_BODY_BYTES} bytes)")
    return b"".join(chunks)


async def _form_files(request, body: bytes) -> list[bytes]:
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
        form = await Request(request.scope, receive).form()
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


def create_app(model_path=None, *, model: Module | None = None,
               predictor: Predictor | None = None):
    """The FastAPI application serving one model.

    Args:
        model_path: a file written by ``lm.save``.
        model: a Module to serve instead of a file (input shape inferred from its first layer).
        predictor: a ready :class:`Predictor` (model, input shape, label encoder) instead.

    Returns:
        A ``fastapi.FastAPI`` app with ``/health``, ``/model`` and ``/predict``.

    Raises:
        ValueError: none or several of ``model_path``, ``model``, ``predictor`` given, or the
            model file cannot be read.
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    given = [x is not None for x in (model_path, model, predictor)]
    if sum(given) != 1:
        raise ValueError("create_app: pass exactly one of model_path, model or predictor")
    if predictor is None:
        predictor = load_predictor(model_path) if model_path is not None else Predictor(model)

    app = FastAPI(title="lamina model server",
                  description=__doc__.split("\n\n", 1)[0] + " Input formats: see POST /predict.",
                  version=_version())
    app.state.predictor = predictor

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); the server "
                                       f"keeps running"}, status_code=500)

    # Answers are built as JSONResponse directly: no response-model validation per request.
    description = JSONResponse(predictor.describe())

    @app.get("/health", summary="Liveness check", responses={200: {"content": {
        "application/json": {"example": {"status": "ok"}}}}})
    async def health():
        return JSONResponse({"status": "ok"})

    @app.get("/model", summary="The served model: layers, input shape, classes, parameters")
    async def describe():
        return description

    @app.post("/predict", summary="Predict labels and probabilities for a batch",
              openapi_extra={"requestBody": _OPENAPI_BODY}, responses=_PREDICT_RESPONSES)
    async def predict(request: Request):
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in _CONTENT_TYPES:
            raise RequestError(415, f"Content-Type {content_type or '(none)'!r} is not accepted; "
                                    f"use one of {', '.join(_CONTENT_TYPES)}")
        body = await _read_body(request)
        if content_type == "multipart/form-data":
            files = await _form_files(request, body)
            answer = await run_in_threadpool(_predict_images, predictor, files)
        elif not body:
            raise RequestError(422, "the body is empty: send a batch of samples")
        else:
            answer = await run_in_threadpool(_predict_body, predictor, content_type, body)
        return JSONResponse(answer)

    return app


def _predict_images(predictor: Predictor, files: list[bytes]) -> dict[str, list]:
    return predictor.predict(parse_png(files, predictor))


def _predict_body(predictor: Predictor, content_type: str, body: bytes) -> dict[str, list]:
    if content_type == "application/json":
        batch = parse_json(body, predictor)
    elif content_type == "text/csv":
        batch = parse_csv(body, predictor)
    else:
        batch = parse_png([body], predictor)
    return predictor.predict(batch)


def _version() -> str:
    import lamina

    return lamina.__version__


# ----------------------------------------------------------------------------- running it
def uvicorn_config(app, **options):
    """A ``uvicorn.Config`` for ``app`` with the server's connection limits: keep-alive
    (:data:`KEEP_ALIVE_S`), header (:data:`HEADER_TIMEOUT_S`) and shutdown (:data:`SHUTDOWN_S`)
    timeouts and :data:`MAX_HEADER_BYTES`; ``options`` go to ``uvicorn.Config``."""
    import uvicorn

    options = {"timeout_keep_alive": KEEP_ALIVE_S, "timeout_graceful_shutdown": SHUTDOWN_S,
               "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
               "http": _header_timeout_protocol(HEADER_TIMEOUT_S), **options}
    return uvicorn.Config(app, **options)


def _header_timeout_protocol(seconds: float):
    """uvicorn's h11 protocol, closing a connection that has not sent a request's complete
    headers ``seconds`` after it opened or after its last response (uvicorn's own keep-alive
    timer stops at the first byte, so a client sending headers slowly would hold it forever)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._handling_request():
                self._cancel_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()

        def connection_lost(self, exc) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _handling_request(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            if not self.transport.is_closing():
                self._header_timer = self.loop.call_later(seconds, self._header_timeout)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if not self._handling_request() and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutH11Protocol


def serve(model_path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """``lamina serve MODEL [--host 127.0.0.1] [--port 8000]``: serve until interrupted (SIGTERM
    or Ctrl-C: requests in flight get :data:`SHUTDOWN_S` seconds, then the server exits)."""
    import uvicorn

    app = create_app(model_path)
    print(f"serving {model_path} on http://{host}:{port} (docs: http://{host}:{port}/docs)",
          flush=True)
    uvicorn.Server(uvicorn_config(app, host=host, port=port, log_level="info")).run()


class BackgroundServer:
    """Run an app with uvicorn in a daemon thread on a free port of ``host`` (tests, benches).

    Example:
        >>> with BackgroundServer(create_app(model=net)) as url:  # doctest: +SKIP
        ...     httpx.get(url + "/health")
    """

    def __init__(self, app, host: str = "127.0.0.1", log_level: str = "warning"):
        import uvicorn

        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
        # without it, keep-alive responses wait for the client's delayed ACK (~40 ms each).
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, 0))
        self.url = f"http://{host}:{self.socket.getsockname()[1]}"
        config = uvicorn_config(app, log_level=log_level, access_log=False, lifespan="off")
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
