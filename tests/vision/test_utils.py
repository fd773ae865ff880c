"""lamina.vision.utils: make_grid's layout (torchvision's formula) and save_image's pixels."""

import numpy as np
import pytest

import lamina as lm
from lamina.vision.utils import make_grid, save_image


def test_make_grid_layout():
    images = np.stack([np.full((3, 4, 5), k, np.float32) for k in range(1, 6)])
    grid = make_grid(lm.tensor(images), nrow=2, padding=1, pad_value=-1).numpy()
    assert grid.shape == (3, 3 * (4 + 1) + 1, 2 * (5 + 1) + 1)
    assert grid[0, 0, 0] == -1 and grid[0, 1, 1] == 1 and grid[0, 1, 7] == 2
    assert grid[0, 6, 1] == 3 and grid[0, 11, 1] == 5 and grid[0, 11, 7] == -1


def test_make_grid_one_channel_becomes_rgb_and_normalizes():
    images = lm.tensor(np.linspace(-1, 1, 2 * 16, dtype=np.float32).reshape(2, 1, 4, 4))
    grid = make_grid(images, normalize=True, padding=0).numpy()
    assert grid.shape == (3, 4, 8) and grid.min() == 0 and grid.max() == pytest.approx(1)
    single = make_grid(lm.tensor(np.zeros((1, 1, 4, 4), np.float32)))
    assert single.shape == (3, 4, 4)
    ranged = make_grid(images, normalize=True, value_range=(0, 1), padding=0).numpy()
    assert ranged.min() == 0 and ranged.max() == 1


def test_save_image_writes_rounded_pixels(tmp_path):
    image = pytest.importorskip("PIL.Image")
    values = np.array([[0.0, 0.5], [1.0, 2.0]], np.float32)[None, None]
    save_image(lm.tensor(values), tmp_path / "x.png", padding=0)
    pixels = np.asarray(image.open(tmp_path / "x.png"))
    assert pixels.shape == (2, 2, 3)
    np.testing.assert_array_equal(pixels[..., 0], [[0, 128], [255, 255]])
