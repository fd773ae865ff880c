"""Training: the ``fit`` loop, callbacks, history and resumable checkpoints (``lm.train``)."""

from lamina.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
)
from lamina.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from lamina.train.history import History
from lamina.train.loop import (
    NonFiniteLossError,
    Trainer,
    compute_loss,
    evaluate,
    fit,
    predict,
)
from lamina.train.tensorboard import TensorBoard

__all__ = [
    "fit", "evaluate", "predict", "compute_loss", "Trainer", "History", "Callback",
    "EarlyStopping", "ModelCheckpoint", "ProgressBar", "CSVLogger", "LearningRateScheduler",
    "TerminateOnNaN", "TensorBoard", "save_checkpoint", "load_checkpoint", "Checkpoint",
    "NonFiniteLossError",
]
