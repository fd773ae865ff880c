"""lamina.metrics against scikit-learn: identical numbers, dtypes, text and errors.

The comparisons need scikit-learn (a test extra) and skip without it; the checks of the notes' own
numbers (eq 7.3, 7.4), the warnings, the errors and the docstring examples run without it."""

import doctest
import warnings

import numpy as np
import pytest

import lamina as lm
from lamina import metrics


@pytest.fixture
def sk():
    """scikit-learn's metrics module (the test skips without scikit-learn)."""
    return pytest.importorskip("sklearn.metrics")


AVERAGES = [None, "binary", "micro", "macro", "weighted"]
ZERO_DIVISIONS = ["warn", 0, 1, np.nan]
NAMES = np.array(["ant", "bee", "cat", "dog"])


def assert_same(ours, theirs):
    """Equal values (NaN == NaN), same types and dtypes, recursively."""
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert_same(a, b)
    elif theirs is None or isinstance(theirs, (str, dict)):
        assert ours == theirs or (isinstance(theirs, dict) and repr(ours) == repr(theirs))
    else:
        assert type(ours) is type(theirs), (type(ours), type(theirs))
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        assert np.array_equal(ours, theirs, equal_nan=ours.dtype.kind == "f"), (ours, theirs)


def both(name, *args, **kwargs):
    """Run ``name`` in sklearn and lamina; both succeed with equal results or both ValueError."""
    results = []
    for module in (pytest.importorskip("sklearn.metrics"), metrics):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results.append(getattr(module, name)(*args, **kwargs))
        except ValueError:
            results.append(ValueError)
    theirs, ours = results
    if theirs is ValueError or ours is ValueError:
        assert theirs is ours, (name, kwargs, theirs, ours)
    else:
        assert_same(ours, theirs)


def random_case(seed):
    rng = np.random.default_rng(seed)
    n_classes, n = int(rng.integers(1, 5)), int(rng.integers(1, 25))
    y_true, y_pred = rng.integers(0, n_classes, n), rng.integers(0, n_classes, n)
    if seed % 3 == 1:
        y_true, y_pred = NAMES[y_true], NAMES[y_pred]
    weights = [None, rng.random(n), rng.integers(1, 3, n)][seed % 3]
    return y_true, y_pred, weights


@pytest.mark.parametrize("seed", range(6))
def test_precision_recall_fscore_support_matches_sklearn(seed):
    y_true, y_pred, weights = random_case(seed)
    present = np.unique(np.concatenate([y_true, y_pred]))
    for average in AVERAGES:
        for zero_division in ZERO_DIVISIONS:
            for labels in (None, present[::-1].tolist(), present[:1].tolist()):
                for beta in (1.0, 0.5 + 1.5 * (seed % 2)):
                    both("precision_recall_fscore_support", y_true, y_pred, beta=beta,
                         labels=labels, average=average, sample_weight=weights,
                         zero_division=zero_division)


@pytest.mark.parametrize("seed", range(6))
def test_score_functions_match_sklearn(seed):
    y_true, y_pred, weights = random_case(seed)
    pos_label = "bee" if y_true.dtype.kind == "U" else 1
    for average in AVERAGES:
        for zero_division in (0, np.nan):
            kwargs = dict(average=average, sample_weight=weights, pos_label=pos_label,
                          zero_division=zero_division)
            for name in ("precision_score", "recall_score", "f1_score"):
                both(name, y_true, y_pred, **kwargs)
            both("fbeta_score", y_true, y_pred, beta=3.0, **kwargs)
    for normalize in (True, False):
        both("accuracy_score", y_true, y_pred, normalize=normalize, sample_weight=weights)


@pytest.mark.parametrize("beta", [0, 0.5, 1, np.inf])
def test_beta_limits_match_sklearn(beta):
    both("fbeta_score", [0, 1, 1, 2, 2], [0, 2, 1, 2, 0], beta=beta, average=None)


@pytest.mark.parametrize("seed", range(6))
def test_confusion_matrix_matches_sklearn(seed):
    y_true, y_pred, weights = random_case(seed)
    present = np.unique(np.concatenate([y_true, y_pred]))
    for labels in (None, present[::-1].tolist(), [present[0]], [*present.tolist(), present[0]]):
        for normalize in (None, "true", "pred", "all"):
            both("confusion_matrix", y_true, y_pred, labels=labels, sample_weight=weights,
                 normalize=normalize)


@pytest.mark.parametrize("seed", range(6))
def test_classification_report_matches_sklearn(seed):
    y_true, y_pred, weights = random_case(seed)
    present = np.unique(np.concatenate([y_true, y_pred])).tolist()
    for labels in (None, present[:1], [*present, "zzz" if isinstance(present[0], str) else 9]):
        for zero_division in ZERO_DIVISIONS[seed % 2::2]:
            for output_dict in (False, True):
                both("classification_report", y_true, y_pred, labels=labels,
                     sample_weight=weights, zero_division=zero_division, digits=2 + seed % 3,
                     output_dict=output_dict)


def test_classification_report_target_names_text():
    y_true, y_pred = [0, 1, 2, 2, 2], [0, 0, 2, 2, 1]
    names = ["class 0", "a much longer class name", "c2"]
    both("classification_report", y_true, y_pred, target_names=names)
    both("classification_report", y_true, y_pred, target_names=names, output_dict=True)
    text = metrics.classification_report(y_true, y_pred, target_names=names)
    assert "a much longer class name" in text and "accuracy" in text


@pytest.mark.parametrize("seed", range(5))
def test_multilabel_indicators_match_sklearn(seed):
    rng = np.random.default_rng(100 + seed)
    n, k = int(rng.integers(1, 15)), int(rng.integers(2, 5))
    y_true = (rng.random((n, k)) < 0.4).astype(int)
    y_pred = (rng.random((n, k)) < 0.4).astype(int)
    weights = rng.random(n) if seed % 2 else None
    for average in [None, "micro", "macro", "weighted", "samples", "binary"]:
        for zero_division in ZERO_DIVISIONS:
            for labels in (None, [k - 1, 0]):
                both("precision_recall_fscore_support", y_true, y_pred, average=average,
                     labels=labels, sample_weight=weights, zero_division=zero_division)
    both("accuracy_score", y_true, y_pred, sample_weight=weights)
    both("multilabel_confusion_matrix", y_true, y_pred, sample_weight=weights)
    both("multilabel_confusion_matrix", y_true, y_pred, sample_weight=weights, samplewise=True)
    both("classification_report", y_true, y_pred, sample_weight=weights)
    both("classification_report", y_true, y_pred, output_dict=True)


@pytest.mark.parametrize(
    "y_true, y_pred",
    [
        ([1, 1, 1], [1, 1, 1]),  # a single class
        ([0, 0, 0], [0, 0, 0]),  # pos_label=1 absent: every score is 0/0
        ([0, 1, 1, 0], [0, 0, 0, 0]),  # nothing predicted positive
        ([0, 1, 2, 2], [0, 0, 0, 0]),  # labels absent from the predictions
        ([2, 2, 3], [3, 3, 4]),  # labels absent from y_true
        (["b", "a", "b"], ["b", "b", "b"]),
        ([True, False, True], [True, True, False]),
    ],
)
def test_edge_inputs_match_sklearn(y_true, y_pred):
    for zero_division in ZERO_DIVISIONS:
        for average in AVERAGES:
            for name in ("precision_score", "recall_score", "f1_score"):
                both(name, y_true, y_pred, average=average, zero_division=zero_division)
        both("classification_report", y_true, y_pred, zero_division=zero_division)
        both("classification_report", y_true, y_pred, zero_division=zero_division,
             output_dict=True)
    both("confusion_matrix", y_true, y_pred)
    both("accuracy_score", y_true, y_pred)


def test_accepts_tensors_and_column_vectors(sk):
    y_true, y_pred = np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 2, 1])
    expected = sk.f1_score(y_true, y_pred, average="macro")
    assert metrics.f1_score(lm.tensor(y_true), lm.tensor(y_pred), average="macro") == expected
    assert metrics.f1_score(y_true[:, None], list(y_pred), average="macro") == expected
    assert np.array_equal(metrics.confusion_matrix(lm.tensor(y_true), y_pred),
                          sk.confusion_matrix(y_true, y_pred))


def test_fbeta_is_notes_eq_7_4_with_alpha():
    y_true, y_pred = [0, 1, 1, 1, 0, 1], [1, 1, 0, 1, 0, 1]
    precision = metrics.precision_score(y_true, y_pred)
    recall = metrics.recall_score(y_true, y_pred)
    for alpha in (0.5, 1.0, 2.0):
        eq_7_4 = (alpha**2 + 1) * precision * recall / (alpha**2 * precision + recall)
        assert metrics.fbeta_score(y_true, y_pred, beta=alpha) == pytest.approx(eq_7_4, 1e-15)
    assert metrics.f1_score(y_true, y_pred) == metrics.fbeta_score(y_true, y_pred, beta=1.0)


def test_accuracy_is_eq_7_3_for_binary():
    y_true, y_pred = [0, 1, 1, 0, 1], [0, 1, 0, 1, 1]
    tn, fp, fn, tp = metrics.confusion_matrix(y_true, y_pred).ravel()
    assert metrics.accuracy_score(y_true, y_pred) == (tp + tn) / (tp + tn + fp + fn)


def test_zero_division_warns_like_sklearn():
    with pytest.warns(metrics.UndefinedMetricWarning, match="Precision is ill-defined"):
        metrics.precision_score([0, 1], [0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.precision_score([0, 1], [0, 0], zero_division=1) == 1.0
        assert np.isnan(metrics.precision_score([0, 1], [0, 0], zero_division=np.nan))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: metrics.f1_score([0, 1], [0, 1, 1]), "same number of samples"),
        (lambda: metrics.f1_score([0, 1], ["a", "b"], average="macro"), "Mix of label input"),
        (lambda: metrics.f1_score([0, 1, 2], [0, 1, 1]), "average='binary'"),
        (lambda: metrics.precision_score(["a", "b"], ["a", "a"]), "pos_label=1 is not a valid"),
        (lambda: metrics.recall_score([0, 1], [0.5, 1.0]), "continuous"),
        (lambda: metrics.f1_score([0, 1], [0, 1], average="mean"), "average has to be one of"),
        (lambda: metrics.f1_score([0, 1], [0, 1], zero_division=2), "zero_division"),
        (lambda: metrics.fbeta_score([0, 1], [0, 1], beta=-1.0), "beta"),
        (lambda: metrics.f1_score([0, 1], [0, 1], average="samples"), "multilabel"),
        (lambda: metrics.accuracy_score([], []), "empty"),
        (lambda: metrics.confusion_matrix([0, 1], [0, 1], labels=[5]), "at least one label"),
        (lambda: metrics.confusion_matrix([[1, 0], [0, 1]], [[1, 0], [0, 1]]), "not supported"),
        (lambda: metrics.accuracy_score([0, 1], [0, 1], sample_weight=[1]), "sample_weight"),
        (lambda: metrics.classification_report([0, 1], [0, 1], target_names=["a"]),
         "target_names"),
    ],
)
def test_errors_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_type_of_target_and_unique_labels_match_sklearn():
    multiclass = pytest.importorskip("sklearn.utils.multiclass")
    type_of_target, unique_labels = multiclass.type_of_target, multiclass.unique_labels

    for y in ([0, 1], [1, 2, 3], ["a", "b"], [[1, 0], [0, 1]], [0.5, 1.0], [[1, 2], [3, 4]],
              [[1], [2], [3]], [], np.array([1.0, 2.0, 3.0])):
        assert metrics.type_of_target(y) == type_of_target(y)
    assert_same(metrics.unique_labels([3, 1], [2, 1]), unique_labels([3, 1], [2, 1]))
    assert_same(metrics.unique_labels(["b", "a"]), unique_labels(["b", "a"]))


def test_docstring_examples():
    assert doctest.testmod(metrics).failed == 0


# --------------------------------------------------------------------------- regression
@pytest.mark.parametrize("name", ["mean_squared_error", "mean_absolute_error"])
@pytest.mark.parametrize("seed", range(4))
def test_regression_errors_match_sklearn(sk, name, seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 30)), int(rng.integers(1, 4))
    y = rng.normal(size=(n, k))
    p = y + rng.normal(size=(n, k))
    w = rng.random(n) + 0.1
    ours, theirs = getattr(metrics, name), getattr(sk, name)
    cases = [((y[:, 0], p[:, 0]), {}), ((y, p), {}), ((y, p), {"sample_weight": w}),
             ((y.tolist(), p.tolist()), {}), ((y, p), {"multioutput": "raw_values"}),
             ((y[:, 0], p[:, :1]), {}),
             ((y.astype(np.float32), p.astype(np.float32)), {"sample_weight": w}),
             ((y.astype(np.float32), p), {}), ((np.rint(y).astype(int), p), {})]
    if k > 1:
        cases.append(((y, p), {"multioutput": rng.random(k)}))
    for args, kwargs in cases:
        expected = theirs(*args, **kwargs)
        got = ours(*args, **kwargs)
        assert type(got) is type(expected) or isinstance(got, float)
        np.testing.assert_array_equal(got, expected)


def test_regression_errors_reject_what_sklearn_rejects(sk):
    for name in ("mean_squared_error", "mean_absolute_error"):
        for args, kwargs in [(([1, 2], [1, 2, 3]), {}), (([[1, 2]], [[1, 2, 3]]), {}),
                             (([1, 2], [1, 2]), {"multioutput": "bad"}),
                             (([1, 2], [1, 2]), {"sample_weight": [1, 2, 3]}),
                             (([1, 2], [1, 2]), {"multioutput": [0.5]})]:
            with pytest.raises(ValueError):
                getattr(sk, name)(*args, **kwargs)
            with pytest.raises(ValueError, match=name):
                getattr(metrics, name)(*args, **kwargs)


def test_fit_logs_mse_and_mae_as_the_metrics_functions(sk):
    lm.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = rng.normal(size=(20, 2)).astype(np.float32)
    model = lm.nn.Linear(3, 2)
    history = lm.fit(model, lm.nn.MSELoss(), lm.optim.SGD(model.parameters(), lr=0.0),
                     (x, y), val=(x, y), epochs=1, batch_size=20, shuffle=False,
                     metrics=["mse", "mae"])
    out = lm.train.predict(model, x)
    assert history.history["val_mse"] == [sk.mean_squared_error(y, out)]
    assert history.history["val_mae"] == [sk.mean_absolute_error(y, out)]
    assert history.history["mse"] == history.history["val_mse"]  # lr 0: the same weights
