"""lamina.preprocessing against scikit-learn: identical fitted attributes, outputs and splits.

Only the comparisons need scikit-learn (a test extra): without it they skip, while the notes' own
listing (13.1's LabelBinarizer), the errors and the doctests still run."""

import doctest
import json
import re
import warnings

import numpy as np
import pytest

import lamina as lm
from lamina import preprocessing as pp


class _Sklearn:
    """scikit-learn's module ``name``, imported when a test first uses it (that test skips
    without scikit-learn)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        if attr.startswith("__"):  # pytest's collection looks at module attributes' dunders
            raise AttributeError(attr)
        return getattr(pytest.importorskip(self._name), attr)


skp = _Sklearn("sklearn.preprocessing")
ski = _Sklearn("sklearn.impute")
skm = _Sklearn("sklearn.model_selection")


def assert_same(ours, theirs):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (ours, theirs)
    if theirs.dtype == object:
        assert [repr(v) for v in ours.ravel()] == [repr(v) for v in theirs.ravel()]
    else:
        assert np.array_equal(ours, theirs, equal_nan=theirs.dtype.kind == "f"), (ours, theirs)


def roundtrip(transformer):
    """Through strict JSON (no NaN literals) and back."""
    text = json.dumps(transformer.to_config(), allow_nan=False)
    return pp.from_config(json.loads(text))


def random_features(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 30)), int(rng.integers(1, 5))
    X = rng.normal(rng.normal(0, 100), 0.1 + rng.random() * 10, (n, d))
    if seed % 3 == 0:
        X[:, 0] = 3.3  # a constant feature
    if seed % 4 == 1:
        X[rng.random((n, d)) < 0.2] = np.nan
    if seed % 5 == 2:
        X = X.astype(np.float32)
    if seed % 7 == 3:
        X = rng.integers(-5, 5, (n, d))
    X_new = rng.normal(0, 50, (4, d)).astype(X.dtype if X.dtype.kind == "f" else np.float64)
    return X, X_new, rng


# --------------------------------------------------------------------------- scalers


@pytest.mark.parametrize("seed", range(8))
def test_standard_scaler_matches_sklearn(seed):
    X, X_new, rng = random_features(seed)
    weights = rng.random(X.shape[0]) + 0.1 if seed % 2 else None
    for with_mean in (True, False):
        for with_std in (True, False):
            theirs = skp.StandardScaler(with_mean=with_mean, with_std=with_std)
            ours = pp.StandardScaler(with_mean=with_mean, with_std=with_std)
            theirs.fit(X, sample_weight=weights)
            ours.fit(X, sample_weight=weights)
            for name in ("mean_", "var_", "scale_", "n_samples_seen_"):
                if getattr(theirs, name) is None:
                    assert getattr(ours, name) is None
                else:
                    assert_same(getattr(ours, name), getattr(theirs, name))
            assert_same(ours.transform(X), theirs.transform(X))
            assert_same(ours.transform(X_new), theirs.transform(X_new))
            assert_same(ours.inverse_transform(X_new), theirs.inverse_transform(X_new))
            assert_same(roundtrip(ours).transform(X_new), theirs.transform(X_new))


@pytest.mark.parametrize("seed", range(6))
def test_min_max_scaler_matches_sklearn(seed):
    X, X_new, _ = random_features(seed)
    for feature_range, clip in (((0, 1), False), ((-1, 1), True), ((2.5, 7), False)):
        theirs = skp.MinMaxScaler(feature_range=feature_range, clip=clip).fit(X)
        ours = pp.MinMaxScaler(feature_range=feature_range, clip=clip).fit(X)
        for name in ("data_min_", "data_max_", "data_range_", "scale_", "min_",
                     "n_samples_seen_"):
            assert_same(getattr(ours, name), getattr(theirs, name))
        assert_same(ours.fit_transform(X), theirs.transform(X))
        assert_same(ours.transform(X_new), theirs.transform(X_new))
        assert_same(ours.inverse_transform(X_new), theirs.inverse_transform(X_new))
        assert_same(roundtrip(ours).transform(X_new), theirs.transform(X_new))


def test_scalers_accept_tensors():
    X = np.array([[1.0, 2.0], [3.0, 5.0], [4.0, 4.0]], dtype=np.float32)
    expected = skp.StandardScaler().fit_transform(X)
    assert_same(pp.StandardScaler().fit_transform(lm.tensor(X)), expected)
    tensor = lm.tensor(X)
    pp.MinMaxScaler().fit(tensor).transform(tensor)
    pp.StandardScaler().fit(tensor).transform(tensor)
    assert np.array_equal(tensor.numpy(), X)  # the input is not modified
    with_nan = lm.tensor(np.array([[1.0, np.nan], [3.0, 4.0]]))
    assert pp.SimpleImputer().fit_transform(with_nan).tolist() == [[1.0, 4.0], [3.0, 4.0]]
    assert np.isnan(with_nan.numpy()[0, 1])


# --------------------------------------------------------------------------- imputer


@pytest.mark.parametrize("seed", range(6))
def test_simple_imputer_numeric_matches_sklearn(seed):
    rng = np.random.default_rng(50 + seed)
    n, d = int(rng.integers(1, 25)), int(rng.integers(1, 5))
    X = rng.integers(0, 4, (n, d)).astype(float)
    X[rng.random((n, d)) < 0.3] = np.nan
    if seed % 2 == 0:
        X[:, 0] = np.nan  # a feature without any observed value
    if seed % 3 == 1:
        X = X.astype(np.float32)
    X_new = rng.integers(0, 4, (6, d)).astype(X.dtype)
    X_new[rng.random((6, d)) < 0.4] = np.nan
    for strategy in ("mean", "median", "most_frequent", "constant"):
        for keep in (False, True):
            for fill_value in ([None, 7.5] if strategy == "constant" else [None]):
                kwargs = dict(strategy=strategy, keep_empty_features=keep, fill_value=fill_value)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    theirs, ours = ski.SimpleImputer(**kwargs).fit(X), pp.SimpleImputer(**kwargs)
                    ours.fit(X)
                    assert_same(ours.statistics_, theirs.statistics_)
                    assert_same(ours.transform(X_new), theirs.transform(X_new))
                    assert_same(roundtrip(ours).transform(X_new), theirs.transform(X_new))
    X_int = rng.integers(-1, 3, (n, d))
    for strategy in ("mean", "median", "most_frequent", "constant"):
        theirs = ski.SimpleImputer(missing_values=-1, strategy=strategy).fit(X_int)
        ours = pp.SimpleImputer(missing_values=-1, strategy=strategy).fit(X_int)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert_same(ours.transform(X_int), theirs.transform(X_int))


@pytest.mark.parametrize("missing_values", [np.nan, None])
def test_simple_imputer_strings_match_sklearn(missing_values):
    rng = np.random.default_rng(7)
    X = np.array(["b", "a", "c", missing_values], dtype=object)[rng.integers(0, 4, (12, 3))]
    for strategy in ("most_frequent", "constant"):
        theirs = ski.SimpleImputer(missing_values=missing_values, strategy=strategy).fit(X)
        ours = pp.SimpleImputer(missing_values=missing_values, strategy=strategy).fit(X)
        assert_same(ours.statistics_, theirs.statistics_)
        assert_same(ours.transform(X), theirs.transform(X))
        assert_same(roundtrip(ours).transform(X), theirs.transform(X))
    rows = [["a", 1], [None, 2], ["a", None], ["b", 2]]
    theirs = ski.SimpleImputer(missing_values=None, strategy="most_frequent").fit_transform(rows)
    ours = pp.SimpleImputer(missing_values=None, strategy="most_frequent").fit_transform(rows)
    assert_same(ours, theirs)


def test_most_frequent_ties_go_to_the_smallest_value():
    X = np.array([[3.0, "b"], [1.0, "a"], [3.0, "b"], [1.0, "a"]], dtype=object)
    numeric = pp.SimpleImputer(strategy="most_frequent").fit(X[:, :1].astype(float))
    assert numeric.statistics_.tolist() == [1.0]
    strings = pp.SimpleImputer(strategy="most_frequent").fit(X[:, 1:])
    assert strings.statistics_.tolist() == ["a"]


def test_imputer_drops_all_missing_features_with_a_warning():
    X = np.array([[np.nan, 1.0], [np.nan, 3.0]])
    with pytest.warns(UserWarning, match="without any observed values"):
        assert pp.SimpleImputer().fit(X).transform(X).tolist() == [[1.0], [3.0]]


# --------------------------------------------------------------------------- label encoders


def test_label_binarizer_notes_example():
    binarizer = pp.LabelBinarizer().fit(["dog", "cat", "dog", "horse"])
    assert binarizer.transform(["dog", "cat", "dog", "horse"]).tolist() == [
        [0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert binarizer.transform(["dog"]).tolist() == [[0, 1, 0]]


@pytest.mark.parametrize("seed", range(6))
def test_label_binarizer_matches_sklearn(seed):
    rng = np.random.default_rng(200 + seed)
    n = int(rng.integers(1, 20))
    y = rng.integers(0, 1 + seed % 4, n) * 3 - 2
    if seed % 2:
        y = np.array(["dog", "cat", "eel", "ant"])[rng.integers(0, 1 + seed % 4, n)]
    for neg_label, pos_label in ((0, 1), (-1, 1), (-1, 0), (2, 5)):
        for labels in (y, y.tolist()):
            theirs = skp.LabelBinarizer(neg_label=neg_label, pos_label=pos_label).fit(labels)
            ours = pp.LabelBinarizer(neg_label=neg_label, pos_label=pos_label).fit(labels)
            assert_same(ours.classes_, theirs.classes_)
            assert ours.y_type_ == theirs.y_type_
            Y = theirs.transform(labels)
            assert_same(ours.transform(labels), Y)
            assert_same(roundtrip(ours).transform(labels), Y)
            scores = rng.random(Y.shape) * (pos_label - neg_label) + neg_label
            assert_same(ours.inverse_transform(scores), theirs.inverse_transform(scores))
            assert_same(ours.inverse_transform(scores, threshold=0.3),
                        theirs.inverse_transform(scores, threshold=0.3))


def test_label_binarizer_two_classes_one_column_and_inverse():
    binarizer = pp.LabelBinarizer().fit(["no", "yes", "no"])
    assert binarizer.transform(["yes", "no"]).tolist() == [[1], [0]]
    assert binarizer.inverse_transform([[0.7], [0.2]]).tolist() == ["yes", "no"]
    multiclass = pp.LabelBinarizer().fit([0, 1, 2])
    assert multiclass.inverse_transform([[0.1, 0.5, 0.4], [3, 1, 2]]).tolist() == [1, 0]
    assert multiclass.transform([7]).tolist() == [[0, 0, 0]]  # unseen label, as sklearn


def test_label_binarizer_multilabel_matches_sklearn():
    Y = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0]])
    theirs, ours = skp.LabelBinarizer().fit(Y), pp.LabelBinarizer().fit(Y)
    assert ours.y_type_ == theirs.y_type_ == "multilabel-indicator"
    assert_same(ours.transform(Y), theirs.transform(Y))
    scores = np.random.default_rng(0).random(Y.shape)
    assert_same(ours.inverse_transform(scores), theirs.inverse_transform(scores))


def test_multilabel_binarizer_matches_sklearn():
    rng = np.random.default_rng(3)
    sets = [tuple(np.array(["x", "y", "z", "w"])[rng.random(4) < 0.5].tolist()) for _ in range(9)]
    for classes in (None, ["z", "y", "x", "w", "q"]):
        theirs, ours = skp.MultiLabelBinarizer(classes=classes), pp.MultiLabelBinarizer(classes)
        Y = theirs.fit_transform(sets)
        assert_same(ours.fit_transform(iter(sets)), Y)
        assert_same(ours.classes_, theirs.classes_)
        assert ours.inverse_transform(Y) == theirs.inverse_transform(Y)
        assert roundtrip(ours).inverse_transform(Y) == theirs.inverse_transform(Y)
    ints = [(1, 3), (), (2,), (3, 1, 1)]
    Y = skp.MultiLabelBinarizer().fit_transform(ints)
    ours = pp.MultiLabelBinarizer()
    assert_same(ours.fit_transform(ints), Y)
    assert ours.inverse_transform(Y) == [(1, 3), (), (2,), (1, 3)]
    with pytest.warns(UserWarning, match="unknown class"):
        assert ours.transform([(1, 9)]).tolist() == [[1, 0, 0]]
    with pytest.raises(ValueError, match="only 0s and 1s"):
        ours.inverse_transform([[0, 2, 1]])


def test_label_encoder_matches_sklearn_and_names_unseen_labels():
    for y in (["paris", "tokyo", "paris", "amsterdam"], np.array([5, 2, 2, 9]), [True, False]):
        theirs, ours = skp.LabelEncoder().fit(y), pp.LabelEncoder().fit(y)
        assert_same(ours.classes_, theirs.classes_)
        codes = theirs.transform(y)
        assert_same(ours.transform(y), codes)
        assert_same(ours.inverse_transform(codes), theirs.inverse_transform(codes))
        assert_same(roundtrip(ours).transform(y), codes)
    encoder = pp.LabelEncoder().fit(["a", "b"])
    with pytest.raises(ValueError, match="unseen labels: \\['zebra'\\]"):
        encoder.transform(["a", "zebra"])
    with pytest.raises(ValueError, match="unseen labels: \\[2\\]"):
        encoder.inverse_transform([2])


# --------------------------------------------------------------------------- shared contracts


TRANSFORMERS = [
    (pp.StandardScaler, "fit(X)", [[1.0, 2.0], [3.0, 4.0]]),
    (pp.MinMaxScaler, "fit(X)", [[1.0, 2.0], [3.0, 4.0]]),
    (pp.SimpleImputer, "fit(X)", [[1.0, 2.0], [3.0, np.nan]]),
    (pp.LabelBinarizer, "fit(y)", [0, 1, 2]),
    (pp.LabelEncoder, "fit(y)", [0, 1, 2]),
    (pp.MultiLabelBinarizer, "fit(y)", [(0, 1), (2,)]),
]


@pytest.mark.parametrize("cls, fit_call, data", TRANSFORMERS)
def test_transform_before_fit_is_a_clear_error(cls, fit_call, data):
    message = re.escape(f"{cls.__name__} is not fitted: call {fit_call} first")
    with pytest.raises(pp.NotFittedError, match=message):
        cls().transform(data)


@pytest.mark.parametrize("cls", [pp.StandardScaler, pp.MinMaxScaler, pp.SimpleImputer])
def test_wrong_number_of_features_names_expected_and_received(cls):
    fitted = cls().fit([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="X has 3 features, but .* fitted with 2 features"):
        fitted.transform([[1.0, 2.0, 3.0]])


@pytest.mark.parametrize("cls, fit_call, data", TRANSFORMERS)
def test_config_round_trip_through_json(cls, fit_call, data):
    unfitted = roundtrip(cls())
    assert type(unfitted) is cls and repr(unfitted) == repr(cls())
    fitted = cls().fit(data)
    config = fitted.to_config()
    assert config["class"] == cls.__name__
    restored = roundtrip(fitted)
    assert repr(restored) == repr(fitted)
    assert np.array_equal(np.asarray(restored.transform(data)), np.asarray(fitted.transform(data)))
    assert cls.from_config(json.loads(json.dumps(config))).to_config() == config


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.update({"class": "os.system"}), "unknown class"),
        (lambda c: c.update({"class": "MinMaxScaler"}), "params must be a dict"),
        (lambda c: c["attributes"].pop("scale_"), "fitted attributes must be exactly"),
        (lambda c: c["attributes"]["scale_"]["ndarray"].update({"dtype": "V8"}), "dtype"),
        (lambda c: c["attributes"]["scale_"]["ndarray"].update({"shape": [5]}), "flat list"),
        (lambda c: c["attributes"]["scale_"]["ndarray"].update({"data": ["x", 1.0]}),
         "do not match dtype float64"),
        (lambda c: c["attributes"]["scale_"]["ndarray"].update({"data": [{"x": 1}, 1.0]}),
         "unexpected value"),
        (lambda c: c["attributes"].update({"mean_": [1, 2]}), "mean_ must be a 1-D array"),
        (lambda c: c["params"].update({"evil": True}), "params must be a dict"),
        (lambda c: c.update({"extra": 1}), "expected a dict"),
    ],
)
def test_from_config_rejects_bad_configs(mutate, message):
    config = json.loads(json.dumps(pp.StandardScaler().fit([[1.0, 2.0], [3.0, 5.0]]).to_config()))
    mutate(config)
    with pytest.raises(ValueError, match=message):
        pp.from_config(config)
    with pytest.raises(ValueError, match="is for StandardScaler, not MinMaxScaler"):
        pp.MinMaxScaler.from_config(pp.StandardScaler().to_config())


# --------------------------------------------------------------------------- rows and splits


def test_dropna_drops_rows_with_nan_or_none():
    X = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, 5.0], [6.0, 7.0]])
    assert pp.dropna(X).tolist() == [[1.0, 2.0], [4.0, 5.0], [6.0, 7.0]]
    X_kept, y_kept = pp.dropna(X, [0, 1, np.nan, 1])
    assert X_kept.tolist() == [[1.0, 2.0], [6.0, 7.0]] and y_kept.tolist() == [0.0, 1.0]
    objects = np.array([["a", 1], [None, 2], ["c", float("nan")], ["d", 4]], dtype=object)
    assert pp.dropna(objects).tolist() == [["a", 1], ["d", 4]]
    assert pp.dropna(["x", None, "y"]).tolist() == ["x", "y"]
    with pytest.raises(ValueError, match="same number of samples"):
        pp.dropna(X, [1, 2])


def test_dropna_keeps_pandas_objects():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1.0, None, 3.0], "b": ["x", "y", None]})
    assert pp.dropna(frame).equals(frame.dropna())


SIZES = [(None, None), (0.25, None), (0.33, None), (None, 0.6), (5, None), (None, 4), (0.2, 0.5),
         (3, 3)]


@pytest.mark.parametrize("seed", range(5))
def test_train_test_split_matches_sklearn(seed):
    rng = np.random.default_rng(300 + seed)
    n = int(rng.integers(9, 60))
    X, y = rng.random((n, 2)), np.tile([0, 1, 2], n)[:n]
    rng.shuffle(y)
    for test_size, train_size in SIZES:
        for stratify in (None, y):
            for shuffle in (True, False):
                kwargs = dict(test_size=test_size, train_size=train_size, random_state=seed,
                              shuffle=shuffle, stratify=stratify)
                try:
                    theirs = skm.train_test_split(X, y, y.tolist(), **kwargs)
                except ValueError:
                    with pytest.raises(ValueError):
                        pp.train_test_split(X, y, y.tolist(), **kwargs)
                    continue
                ours = pp.train_test_split(X, y, y.tolist(), **kwargs)
                assert len(ours) == len(theirs) == 6
                for mine, other in zip(ours, theirs, strict=True):
                    assert type(mine) is type(other)
                    assert_same(mine, other)


def test_train_test_split_stratified_proportions_and_reproducibility():
    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    X = np.arange(100)
    X_train, X_test, y_train, y_test = pp.train_test_split(X, y, test_size=0.25, stratify=y,
                                                           random_state=4)
    assert len(y_test) == 25 and set(np.bincount(y_test).tolist()) <= {12, 13, 7, 8, 5}
    theirs = skm.train_test_split(X, y, test_size=0.25, stratify=y, random_state=4)
    assert np.bincount(y_test).tolist() == np.bincount(theirs[3]).tolist()
    assert np.array_equal(y[X_train], y_train)
    again = pp.train_test_split(X, y, test_size=0.25, stratify=y, random_state=4)
    assert np.array_equal(again[0], X_train) and np.array_equal(again[1], X_test)
    lm.manual_seed(11)
    first = pp.train_test_split(X, test_size=0.3)
    lm.manual_seed(11)
    second = pp.train_test_split(X, test_size=0.3)
    assert np.array_equal(first[0], second[0]) and len(first[1]) == 30


def test_train_test_split_tensors_and_errors():
    data = lm.tensor(np.arange(20.0).reshape(10, 2))
    train, test = pp.train_test_split(data, test_size=0.2, random_state=0)
    assert tuple(train.shape) == (8, 2) and tuple(test.shape) == (2, 2)
    with pytest.raises(ValueError, match="same number of samples"):
        pp.train_test_split(np.arange(6), np.arange(5))
    with pytest.raises(ValueError, match="test_size=1.5"):
        pp.train_test_split(np.arange(6), test_size=1.5)
    with pytest.raises(ValueError, match="only 1 member"):
        pp.train_test_split(np.arange(6), stratify=[0, 0, 0, 0, 0, 1], random_state=0)
    with pytest.raises(ValueError, match="shuffle=True"):
        pp.train_test_split(np.arange(6), stratify=[0, 1] * 3, shuffle=False)


def test_docstring_examples():
    assert doctest.testmod(pp).failed == 0
