"""Preprocessing with scikit-learn's names, arguments and numbers (notes chapter 13).

Label encoders (:class:`LabelBinarizer`, :class:`MultiLabelBinarizer`, :class:`LabelEncoder`),
feature scalers (:class:`StandardScaler`, :class:`MinMaxScaler`), missing values
(:class:`SimpleImputer`, :func:`dropna`) and :func:`train_test_split`. Inputs may be lists,
NumPy arrays or lamina Tensors; outputs are NumPy arrays.

Every transformer has ``to_config()`` / ``from_config(config)``: a JSON-serialisable dict
``{"class": name, "params": {...}, "attributes": {...}}`` holding the constructor arguments and
the fitted attributes (arrays as ``{"ndarray": {"dtype", "shape", "data"}}``, non-finite floats
as ``{"float": "nan"}``: :mod:`lamina.codec`, the encoding of model files too), so a fitted
pipeline can be stored in a model file without pickle.
:func:`from_config` rebuilds any of them from its dict and validates it.

Example (the notes' listing in section 13.1):
    >>> binarizer = LabelBinarizer().fit(["dog", "cat", "dog", "horse"])
    >>> binarizer.transform(["dog"]).tolist()
    [[0, 1, 0]]
"""

from lamina.preprocessing._base import NotFittedError, from_config
from lamina.preprocessing.encoders import LabelBinarizer, LabelEncoder, MultiLabelBinarizer
from lamina.preprocessing.imputer import SimpleImputer
from lamina.preprocessing.scalers import MinMaxScaler, StandardScaler
from lamina.preprocessing.split import dropna, train_test_split

__all__ = [
    "NotFittedError",
    "LabelBinarizer",
    "LabelEncoder",
    "MinMaxScaler",
    "MultiLabelBinarizer",
    "SimpleImputer",
    "StandardScaler",
    "dropna",
    "from_config",
    "train_test_split",
]
