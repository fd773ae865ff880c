"""Write ``synthetic_penguins.csv``: a small tabular classification set with nulls and strings.

300 synthetic penguins of three species, drawn (seed 0) from Gaussians whose means and standard
deviations are those of the Palmer penguins measurements (Gorman et al. 2014), so the classes
overlap as in the real data. About 4% of the feature cells and 1% of the labels are empty, the
label is a string, and one feature (``island``) is a string, which is what the notes' chapter 13
("not valued based data") is about. Used by ``examples/configs/tabular_csv.toml`` and the tests.

Run ``python examples/data/make_tabular.py`` to regenerate the file (it is committed; the output is
identical on every run).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SEED = 0
N_ROWS = 300
FEATURE_NULL_RATE = 0.04
LABEL_NULL_RATE = 0.01
OUT = Path(__file__).with_name("synthetic_penguins.csv")

# species: (share, {column: (mean, std)}, {island: share})
SPECIES = {
    "Adelie": (0.44, {"bill_length_mm": (38.8, 2.7), "bill_depth_mm": (18.3, 1.2),
                      "flipper_length_mm": (190.0, 6.5), "body_mass_g": (3700.0, 460.0)},
               {"Biscoe": 0.3, "Dream": 0.37, "Torgersen": 0.33}),
    "Chinstrap": (0.20, {"bill_length_mm": (48.8, 3.3), "bill_depth_mm": (18.4, 1.1),
                         "flipper_length_mm": (196.0, 7.1), "body_mass_g": (3733.0, 384.0)},
                  {"Dream": 1.0}),
    "Gentoo": (0.36, {"bill_length_mm": (47.5, 3.1), "bill_depth_mm": (15.0, 1.0),
                      "flipper_length_mm": (217.0, 6.5), "body_mass_g": (5076.0, 504.0)},
               {"Biscoe": 1.0}),
}
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
COLUMNS = ["island", *NUMERIC, "species"]
DECIMALS = {"bill_length_mm": 1, "bill_depth_mm": 1, "flipper_length_mm": 0, "body_mass_g": 0}


def make_rows(rng: np.random.Generator) -> list[list[str]]:
    """Draw ``N_ROWS`` rows (strings, ``""`` for a missing value) in ``COLUMNS`` order."""
    names = list(SPECIES)
    shares = np.array([SPECIES[name][0] for name in names])
    species = rng.choice(names, size=N_ROWS, p=shares / shares.sum())
    rows = []
    for name in species:
        _, stats, islands = SPECIES[name]
        island = rng.choice(list(islands), p=list(islands.values()))
        values = [f"{rng.normal(*stats[col]):.{DECIMALS[col]}f}" for col in NUMERIC]
        rows.append([str(island), *values, str(name)])
    for row in rows:
        for j in range(len(COLUMNS) - 1):
            if rng.random() < FEATURE_NULL_RATE:
                row[j] = ""
        if rng.random() < LABEL_NULL_RATE:
            row[-1] = ""
    return rows


def main() -> None:
    rows = make_rows(np.random.default_rng(SEED))
    with open(OUT, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"wrote {OUT} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
