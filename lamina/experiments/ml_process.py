"""The machine learning process of the notes' chapter 10, on a table, from inspection to serving.

Claim: the ten steps (confirm the target, observe the data, preprocess, select the model, the
cost function and the optimizer, train, fine-tune, predict, deploy) run end to end with lamina's
public APIs, and the saved model that ``lamina predict`` serves gives the same predictions as
the model in memory.

Read :func:`run` top to bottom: each numbered comment is one step of chapter 10. The data is a
generated table of penguins (the measurements of three species, with a string column and empty
cells, as in the notes' chapter 13), written to a CSV file first so that every step starts from
a file, as it would for a learner's own data. It needs pandas (``pip install 'lamina[tabular]'``).
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.experiments import common

NAME = "ml-process"
CLAIM = ("the notes' 10 steps run end to end on a table, and the saved model that `lamina "
         "predict` serves predicts exactly as the trained one")

LABEL = "species"
# species: share, island shares, (mean, std) of bill length, bill depth, flipper, body mass
SPECIES = {
    "Adelie": (0.44, {"Biscoe": 0.3, "Dream": 0.35, "Torgersen": 0.35},
               ((38.8, 2.7), (18.3, 1.2), (190.0, 6.5), (3700.0, 460.0))),
    "Chinstrap": (0.20, {"Dream": 1.0},
                  ((48.8, 3.3), (18.4, 1.1), (196.0, 7.1), (3733.0, 384.0))),
    "Gentoo": (0.36, {"Biscoe": 1.0},
               ((47.5, 3.1), (15.0, 1.0), (217.0, 6.5), (5076.0, 504.0))),
}
NUMERIC = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")


@dataclass(frozen=True)
class Settings:
    rows: int
    candidates: tuple[tuple[int, float], ...]
    max_epochs: int


SETTINGS = {
    "tiny": Settings(300, ((8, 0.01), (32, 0.01)), 60),
    "quick": Settings(600, ((8, 0.01), (32, 0.01), (32, 0.003)), 100),
    "full": Settings(1500, ((8, 0.01), (32, 0.01), (32, 0.003), (64, 0.003)), 200),
}


def make_penguins(rows: int, rng: np.random.Generator, missing: float = 0.03,
                  shuffle_labels: bool = False) -> Any:
    """A table of ``rows`` penguins: ``island`` (text), four measurements and ``species``.

    About ``missing`` of the feature cells and a third of that of the labels are left empty.
    ``shuffle_labels`` permutes the species column (labels unrelated to the measurements: the
    broken variant that the checks must catch).

    Returns:
        A pandas ``DataFrame``.
    """
    from lamina.tabular import require_pandas

    pd = require_pandas()
    names = list(SPECIES)
    species = rng.choice(names, size=rows, p=[SPECIES[n][0] for n in names])
    table: dict[str, list[Any]] = {"island": [], **{c: [] for c in NUMERIC}, LABEL: []}
    for name in species:
        _, islands, measures = SPECIES[name]
        table["island"].append(rng.choice(list(islands), p=list(islands.values())))
        for column, (mean, std) in zip(NUMERIC, measures, strict=True):
            table[column].append(round(float(rng.normal(mean, std)), 1))
        table[LABEL].append(name)
    frame = pd.DataFrame(table)
    if shuffle_labels:
        frame[LABEL] = rng.permutation(frame[LABEL].to_numpy())
    features = ["island", *NUMERIC]
    holes = rng.random((rows, len(features))) < missing
    for j, column in enumerate(features):
        frame.loc[holes[:, j], column] = None
    frame.loc[rng.random(rows) < missing / 3, LABEL] = None
    return frame


def judge(numbers: dict[str, Any]) -> dict[str, bool]:
    """The checks of steps 3, 7, 9 and 10 on the measured numbers (each can fail: see the
    tests, which break the labels)."""
    mean, std = numbers["train_numeric_mean_std"]
    first, best = numbers["chosen_loss_first_best_epoch"]
    return {
        "step 3: train, validation and test rows are disjoint and every feature is finite after "
        "the pipeline (nulls imputed)": numbers["split_disjoint"] and numbers["features_finite"],
        "step 3: the pipeline was fitted on the training rows: their measurements have mean 0 "
        "and standard deviation 1": mean < 1e-6 and std < 1e-6,
        "step 7: training lowered the chosen model's training loss at least 2x":
            best * 2 < first,
        "step 9: test accuracy above 0.85 and at least 0.3 above the majority-class baseline":
            numbers["test_accuracy"] > 0.85
            and numbers["test_accuracy"] > numbers["majority_baseline"] + 0.3,
        "step 10: `lamina predict` on the saved model returns the in-memory predictions for "
        "every row": numbers["served_agreement"] == 1.0,
    }


def _serve(model_path: Path, csv_path: Path) -> list[str]:
    """The labels ``lamina predict MODEL CSV`` prints: the saved file read back with its input
    pipeline and classes, predicted through the one inference path."""
    from lamina.workflow.data_files import read_unlabelled
    from lamina.workflow.model_file import load_model

    loaded = load_model(model_path)
    x, _ = read_unlabelled([str(csv_path)], loaded)
    return loaded.label_of(loaded.predictor.predict(x))


def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """The ten steps of notes chapter 10, on a generated CSV (see the module docstring).

    Args:
        quick: the ``--quick`` size (well under a minute on 2 cores).
        out: directory for the CSV files, the model file and the figures; None uses a
            temporary directory (deleted afterwards) and draws no figures.
        seed: seeds the data, the split and the training.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.

    Raises:
        ImportError: pandas is not installed.
    """
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    with contextlib.ExitStack() as stack:
        work = out_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        total = len(s.candidates) * s.max_epochs
        bar = stack.enter_context(common.progress_bar(total, NAME, progress))
        return _steps(s, size, seed, out_dir, work, bar)


def _steps(s: Settings, size: str, seed: int, out_dir: Path | None, work: Path,
           bar: Any, shuffle_labels: bool = False) -> common.Result:
    import lamina as lm
    from lamina import metrics
    from lamina.preprocessing import LabelEncoder, train_test_split
    from lamina.tabular import TabularPipeline, drop_missing, read_csv
    from lamina.workflow.inspection import inspect_csv

    timer = common.Timer()
    rng = common.seed_all(seed)
    log: list[str] = []

    # 1. Confirm the target: predict a penguin's species (3 classes) from its measurements and
    #    island; success is accuracy and macro-F1 (chapter 7) on rows never used in training.
    log.append("1. target: classify 'species' (3 classes) from island and 4 measurements; "
               "score: accuracy and macro F1 on held-out rows")

    # 2. Observe the data: shapes, types, nulls, class balance (what `lamina inspect` prints).
    csv_path = work / f"{NAME}_penguins.csv"
    make_penguins(s.rows, rng, shuffle_labels=shuffle_labels).to_csv(csv_path, index=False)
    report = inspect_csv(csv_path, LABEL)
    log.append(f"2. observe: lamina inspect {csv_path.name} --label {LABEL}")
    log += ["     " + line for line in report.splitlines()]

    # 3. Preprocess: drop rows without a label, split (stratified) before fitting anything, then
    #    fit the pipeline on the training rows only: impute nulls (median / most frequent),
    #    one-hot encode the island, standardise the numbers; encode the labels as 0..C-1.
    frame, unlabelled = drop_missing(read_csv(csv_path), [LABEL])
    rest, test_rows = train_test_split(frame, test_size=0.2, stratify=frame[LABEL],
                                       random_state=seed)
    train_rows, val_rows = train_test_split(rest, test_size=0.2, stratify=rest[LABEL],
                                            random_state=seed)
    pipeline = TabularPipeline(label=LABEL, nulls="median").fit(train_rows)
    encoder = LabelEncoder().fit(train_rows[LABEL])
    x_train, x_val, x_test = (pipeline.transform(rows) for rows in (train_rows, val_rows,
                                                                     test_rows))
    y_train, y_val, y_test = (encoder.transform(rows[LABEL]) for rows in (train_rows, val_rows,
                                                                       test_rows))
    classes = [str(c) for c in encoder.classes_]
    log.append(f"3. preprocess: {unlabelled} row{'s' * (unlabelled != 1)} without a label dropped; "
               f"{len(train_rows)} train / {len(val_rows)} validation / {len(test_rows)} test "
               f"rows; features {pipeline.feature_names_}")

    # 4-6. Select the model (an MLP, chapter 5), the cost function (cross-entropy, eq 4.4-4.5)
    #      and the optimizer (Adam); 7. train with early stopping on the validation rows (8.3);
    #      8. fine-tune: keep the candidate (width, learning rate) with the best validation loss.
    candidates = []
    for width, lr in s.candidates:
        common.seed_all(seed)
        model = lm.models.mlp([x_train.shape[1], width, len(classes)])
        loss_fn = lm.nn.CrossEntropyLoss()
        optimizer = lm.optim.Adam(model.parameters(), lr=lr)
        stopper = lm.train.EarlyStopping(monitor="val_loss", patience=10)
        history = lm.fit(model, loss_fn, optimizer, (x_train, y_train), val=(x_val, y_val),
                         epochs=s.max_epochs, batch_size=32, metrics=("accuracy",),
                         callbacks=[stopper, common.EpochTicker(bar)])
        bar.update(s.max_epochs - len(history))
        candidates.append({"width": width, "lr": lr, "val_loss": float(stopper.best),
                           "epochs": len(history), "model": model, "history": history})
        log.append(f"4-7. mlp([{x_train.shape[1]}, {width}, {len(classes)}]), cross-entropy, "
                   f"Adam(lr={lr}): stopped after {len(history)} epochs, best validation loss "
                   f"{stopper.best:.4f} at epoch {stopper.best_epoch}")
    best = min(candidates, key=lambda c: c["val_loss"])
    model = best["model"]
    log.append(f"8. fine-tune: chose width {best['width']}, lr {best['lr']} (lowest validation "
               "loss)")

    # 9. Predict the test rows and measure (chapter 7).
    predicted = lm.train.predict(model, x_test).argmax(axis=1)
    accuracy = float(metrics.accuracy_score(y_test, predicted))
    macro_f1 = float(metrics.f1_score(y_test, predicted, average="macro"))
    matrix = metrics.confusion_matrix(y_test, predicted, labels=list(range(len(classes))))
    log.append(f"9. predict: test accuracy {accuracy:.3f}, macro F1 {macro_f1:.3f}")
    log += ["     " + line for line in metrics.classification_report(
        y_test, predicted, labels=list(range(len(classes))), target_names=classes,
        digits=3).splitlines()]

    # 10. Deploy: save the model with its pipeline and classes, then let `lamina predict` serve
    #     new rows (the test rows without their label, nulls included) from the file.
    model_path = work / f"{NAME}_model.safetensors"
    lm.save(model, model_path, preprocessing={"label_encoder": encoder}, metadata={
        "task": "classification", "input_shape": [x_train.shape[1]], "classes": classes,
        "pipeline": pipeline.to_config(),
        "data": {"source": "csv", "path": csv_path.name, "label": LABEL}})
    new_rows = work / f"{NAME}_new_rows.csv"
    test_rows.drop(columns=[LABEL]).to_csv(new_rows, index=False)
    served = _serve(model_path, new_rows)
    in_memory = [classes[i] for i in predicted]
    agree = float(np.mean([a == b for a, b in zip(served, in_memory, strict=True)]))
    served_accuracy = float(np.mean(np.asarray(served) == test_rows[LABEL].to_numpy()))
    log.append(f"10. deploy: lm.save -> {model_path.name}; lamina predict {model_path.name} "
               f"{new_rows.name}: {len(served)} labels, {100 * agree:.1f}% equal to the "
               f"in-memory predictions, accuracy {served_accuracy:.3f}")

    numeric = [pipeline.feature_names_.index(c) for c in NUMERIC]
    ids = [set(rows.index) for rows in (train_rows, val_rows, test_rows)]
    first_loss = best["history"].history["loss"][0]
    numbers = {
        "rows": s.rows, "rows_without_label": int(unlabelled),
        "split_disjoint": not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2]),
        "features_finite": bool(all(np.isfinite(x).all() for x in (x_train, x_val, x_test))),
        "train_numeric_mean_std": [float(np.abs(x_train[:, numeric].mean(axis=0)).max()),
                                   float(np.abs(x_train[:, numeric].std(axis=0) - 1).max())],
        "chosen_loss_first_best_epoch": [float(first_loss),
                                         float(min(best["history"].history["loss"]))],
        "majority_baseline": float(np.mean(y_test == np.bincount(y_train).argmax())),
        "split": [len(train_rows), len(val_rows), len(test_rows)],
        "features": len(pipeline.feature_names_),
        "candidates": [{k: c[k] for k in ("width", "lr", "val_loss", "epochs")}
                       for c in candidates],
        "chosen": {"width": best["width"], "lr": best["lr"]},
        "test_accuracy": accuracy, "test_macro_f1": macro_f1,
        "confusion_matrix": matrix.tolist(),
        "served_agreement": agree, "served_accuracy": served_accuracy,
    }
    checks = {**judge(numbers), "step 10: the model file was written": model_path.is_file()}
    conclusion = (
        f"the ten steps ran on {s.rows} generated rows ({unlabelled} without a label dropped); "
        f"the chosen MLP (width {best['width']}, lr {best['lr']}) reached test accuracy "
        f"{accuracy:.3f} and macro F1 {macro_f1:.3f} on {len(test_rows)} held-out rows, and "
        f"`lamina predict` on the saved file gave the same label for {100 * agree:.0f}% of them."
    )
    plots = []
    if out_dir is not None and common.plots_available():
        from lamina.plots import plot_confusion_matrix, plot_learning_curves

        plots = [plot_learning_curves(best["history"], out_dir / f"{NAME}_learning_curves.png",
                                      title=f"step 7: training the chosen MLP (width "
                                            f"{best['width']}, early stopping)"),
                 plot_confusion_matrix(matrix, classes, out_dir / f"{NAME}_confusion_matrix.png",
                                       title=f"step 9: test rows, accuracy {accuracy:.3f}")]
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, plots, size, timer, out_dir,
                         log)
