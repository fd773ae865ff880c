"""Bad input gets a clear error naming what was expected and what was received: layer and loss
constructor arguments, and CSV tables (a text cell in a numeric column, one class, duplicate
headers, categories unseen in training)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina as lm
from lamina import nn

pd = pytest.importorskip("pandas")

from lamina.tabular import TabularPipeline, read_csv  # noqa: E402


# ------------------------------------------------------------------ constructor arguments
@pytest.mark.parametrize(("build", "error", "message"), [
    (lambda: nn.Linear(4.5, 3), TypeError, r"^Linear: in_features must be an int, got float 4.5$"),
    (lambda: nn.Linear(4, "3"), TypeError, r"^Linear: out_features must be an int, got str '3'$"),
    (lambda: nn.Linear(True, 3), TypeError, r"^Linear: in_features must be an int, got bool"),
    (lambda: nn.Linear(0, 3), ValueError, r"^Linear: in_features must be positive, got 0$"),
    (lambda: nn.Linear(2, 3, dtype="int32"), TypeError, r"^Linear: dtype must be floating"),
    (lambda: nn.Conv2d(1.0, 6, 5), TypeError, r"^Conv2d: in_channels must be an int, got float"),
    (lambda: nn.Conv2d(1, None, 5), TypeError, r"^Conv2d: out_channels must be an int, got "
                                               r"NoneType None$"),
    (lambda: nn.Dropout("0.5"), TypeError, r"^Dropout: p must be a real number, got str"),
    (lambda: nn.Dropout(2), ValueError, r"^Dropout: p must be in \[0, 1\], got 2.0$"),
    (lambda: nn.Flatten(1.5), TypeError, r"^Flatten: start_dim must be an int, got float 1.5$"),
    (lambda: nn.LeakyReLU("x"), TypeError, r"^LeakyReLU: negative_slope must be a real number"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), ValueError,
     r"^CrossEntropyLoss: label_smoothing must be in \[0, 1\], got 1.5$"),
])
def test_constructor_arguments_are_named(build, error, message):
    with pytest.raises(error, match=message):
        build()


@settings(max_examples=40, derandomize=True, deadline=None, database=None)
@given(value=st.one_of(st.floats(allow_nan=True), st.text(max_size=3), st.none(),
                       st.booleans(), st.integers(-3, 0)))
def test_linear_never_fails_with_a_numpy_message(value):
    with pytest.raises((TypeError, ValueError), match=r"^Linear: (in|out)_features must be "):
        nn.Linear(value, 3)


# ------------------------------------------------------------------ CSV
def write(tmp_path, text: str):
    path = tmp_path / "table.csv"
    path.write_text(text)
    return path


NUMBERS = "size,color,kind\n" + "".join(
    f"{i / 2},{'red' if i % 2 else 'blue'},{'a' if i % 3 else 'b'}\n" for i in range(10))


def test_a_text_cell_in_a_numeric_column_names_column_row_and_value(tmp_path):
    text = NUMBERS.replace("2.0,", "abc,", 1)  # row 5 (0-based 4)
    frame = read_csv(write(tmp_path, text))
    assert not pd.api.types.is_numeric_dtype(frame["size"])  # pandas reads it as text
    with pytest.raises(ValueError, match=r"^TabularPipeline.fit: column 'size' is numeric \(9 of "
                                         r"its 10 non-empty values are numbers\) but row 5 holds "
                                         r"'abc', which is not a number \(1 such cell\)"):
        TabularPipeline(label="kind").fit(frame)


def test_a_mostly_text_column_stays_categorical(tmp_path):
    text = "size,color,kind\n1,red,a\n2,7,b\n3,blue,a\n4,green,b\n"
    pipe = TabularPipeline(label="kind").fit(read_csv(write(tmp_path, text)))
    assert pipe.categories_ == {"color": ["7", "blue", "green", "red"]}


def test_text_in_a_numeric_column_at_transform_names_the_cell(tmp_path):
    pipe = TabularPipeline(label="kind").fit(read_csv(write(tmp_path, NUMBERS)))
    new = pd.DataFrame({"size": [1.0, "x"], "color": ["red", "red"]})
    with pytest.raises(ValueError, match=r"^TabularPipeline.transform: column 'size' .* row 2 "
                                         r"holds 'x'"):
        pipe.transform(new)


def test_a_single_class_label_is_an_error(tmp_path):
    text = "size,kind\n1,a\n2,a\n3,a\n"
    with pytest.raises(ValueError, match=r"^TabularPipeline.fit: the label column 'kind' has a "
                                         r"single class \('a'\) in the 3 training rows"):
        TabularPipeline(label="kind").fit(read_csv(write(tmp_path, text)))


def test_duplicate_headers_are_an_error(tmp_path):
    path = write(tmp_path, "size,color,size\n1,red,2\n3,blue,4\n")
    with pytest.raises(ValueError, match=r"^read_csv: '.*table.csv' has two columns named 'size' "
                                         r"\(columns 1 and 3\)"):
        read_csv(path)


def test_unseen_categories_are_an_error_unless_ignored(tmp_path):
    frame = read_csv(write(tmp_path, NUMBERS))
    new = pd.DataFrame({"size": [1.0, 2.0], "color": ["red", "green"]})
    with pytest.raises(ValueError, match=r"^TabularPipeline.transform: column 'color' holds "
                                         r"'green' at row 2, a category not seen in training "
                                         r"\(known: 'blue', 'red'; 1 such cell\); pass "
                                         r"handle_unknown=\"ignore\""):
        TabularPipeline(label="kind").fit(frame).transform(new)
    pipe = TabularPipeline(label="kind", handle_unknown="ignore").fit(frame)
    x = pipe.transform(new)
    np.testing.assert_array_equal(x[1, 1:], [0, 0])  # all-zero one-hot, as scikit-learn's
    from sklearn.preprocessing import OneHotEncoder

    expected = OneHotEncoder(handle_unknown="ignore").fit(frame[["color"]]).transform(
        new[["color"]]).toarray()
    np.testing.assert_array_equal(x[:, 1:], expected)
    again = TabularPipeline.from_config(pipe.to_config())
    np.testing.assert_array_equal(again.transform(new), x)
    with pytest.raises(ValueError, match=r"handle_unknown='maybe'\): expected one of error, "
                                         r"ignore"):
        TabularPipeline(label="kind", handle_unknown="maybe")


def test_the_cli_split_still_trains_with_a_category_only_in_test_rows(tmp_path):
    from lamina.workflow.sources import csv_source

    rows = "".join(f"{i},{'red' if i % 2 else 'blue'},{i % 2}\n" for i in range(40))
    path = write(tmp_path, "size,color,kind\n" + rows + "40,green,0\n")
    data = csv_source(str(path), "kind", test_size=0.25, seed=0)
    assert np.isfinite(data.x_train).all()


def test_a_float_loss_on_integers_is_not_truncated_property():
    # the silent-truncation class as a whole: every float op on integer tensors either refuses
    # or equals the float computation
    rng = np.random.default_rng(0)
    a, b = rng.integers(-3, 4, (5, 2)), rng.integers(-3, 4, (5, 2))
    for fn in (lambda x, y: (x - y).abs().mean(), lambda x, y: ((x - y) * (x - y)).mean(),
               lambda x, y: (x / (y * y + 1)).sum()):
        mine = fn(lm.tensor(a), lm.tensor(b)).item()
        expected = fn(lm.tensor(a.astype(np.float64)), lm.tensor(b.astype(np.float64))).item()
        assert mine == pytest.approx(expected, rel=1e-6)
