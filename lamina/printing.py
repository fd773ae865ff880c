"""``lm.set_printoptions``: how tensors print (their repr is NumPy's array2string)."""

from __future__ import annotations

import numpy as np

_INITIAL = np.get_printoptions()  # lamina prints as NumPy does unless told otherwise
_PROFILES = {"default": {k: _INITIAL[k] for k in ("precision", "threshold", "edgeitems",
                                                  "linewidth")},
             "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
             "full": {"precision": _INITIAL["precision"], "threshold": float("inf"),
                      "edgeitems": 3, "linewidth": 80}}


def set_printoptions(precision: int | None = None, threshold: float | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set how tensors print, as ``torch.set_printoptions``: digits after the point
    (``precision``), the element count above which the middle is elided (``threshold``),
    the items shown at each edge then (``edgeitems``), the line width, a ``profile``
    ('default': lamina's own settings, NumPy's; 'short'; 'full': never elide) and
    ``sci_mode`` (True: always scientific notation, False: never). Applies to NumPy's
    printing too (lamina prints through it).

    Raises:
        ValueError: an unknown profile.
    """
    options: dict = {}
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, "
                             f"got {profile!r}")
        options.update(_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold),
                       ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            options[key] = value
    if "threshold" in options and options["threshold"] == float("inf"):
        options["threshold"] = np.iinfo(np.int64).max
    if sci_mode is not None:
        options["suppress"] = not sci_mode
        if sci_mode:
            digits = options.get("precision", np.get_printoptions()["precision"])
            options["formatter"] = {"float_kind": lambda v: np.format_float_scientific(
                v, precision=digits, unique=False)}
        else:
            options["formatter"] = None
    np.set_printoptions(**options)
