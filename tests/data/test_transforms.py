"""Batch augmentation transforms: shapes/dtypes, seeding, exact geometry, argument validation."""

import numpy as np
import pytest

import lamina as lm
from lamina.data import transforms as T

RANDOM_TRANSFORMS = [
    T.RandomShift(2),
    T.RandomShift((1, 3)),
    T.RandomCrop(12, padding=2),
    T.RandomHorizontalFlip(),
    T.RandomRotation(15),
    T.RandomRotation((-30, 10), interpolation="nearest"),
    T.GaussianNoise(0.1),
]
GEOMETRIC = [t for t in RANDOM_TRANSFORMS if not isinstance(t, T.GaussianNoise)]


def _images(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def _shift(image, dy, dx):
    """Reference: out[y, x] = image[y - dy, x - dx], zero outside (image is (H, W))."""
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


@pytest.mark.parametrize("transform", [*RANDOM_TRANSFORMS, T.Normalize(0.5, 0.25)], ids=repr)
@pytest.mark.parametrize("shape", [(5, 3, 12, 12), (5, 12, 12)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_dtype_and_type_preserved(transform, shape, dtype):
    x = _images(shape, dtype)
    out = transform(x)
    assert isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype
    out = transform(lm.tensor(x))
    assert isinstance(out, lm.Tensor) and out.shape == shape and out.dtype == dtype


@pytest.mark.parametrize("transform", GEOMETRIC, ids=repr)
def test_geometric_transforms_keep_integer_dtype(transform):
    x = (_images((4, 12, 12)) * 255).astype(np.uint8)
    out = transform(x)
    assert out.dtype == np.uint8 and out.shape == x.shape


@pytest.mark.parametrize("transform", RANDOM_TRANSFORMS, ids=repr)
def test_reproducible_under_manual_seed(transform):
    x = _images((8, 1, 12, 12))
    lm.manual_seed(7)
    first, second = transform(x), transform(x)
    lm.manual_seed(7)
    np.testing.assert_array_equal(transform(x), first)
    np.testing.assert_array_equal(transform(x), second)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("transform", RANDOM_TRANSFORMS, ids=repr)
def test_input_is_not_modified(transform):
    x = _images((4, 1, 12, 12))
    before = x.copy()
    transform(x)
    np.testing.assert_array_equal(x, before)


def test_empty_batch():
    for transform in RANDOM_TRANSFORMS:
        assert transform(np.zeros((0, 1, 12, 12), np.float32)).shape == (0, 1, 12, 12)


def test_shift_zero_is_identity():
    x = _images((6, 2, 9, 9))
    np.testing.assert_array_equal(T.RandomShift(0)(x), x)


def test_shift_moves_a_bright_pixel_by_the_drawn_offset():
    lm.manual_seed(1)
    n, size, max_shift = 300, 15, 3
    x = _images((n, size, size)) * 0.5
    rng = np.random.default_rng(2)
    rows = rng.integers(max_shift, size - max_shift, n)
    cols = rng.integers(max_shift, size - max_shift, n)
    x[np.arange(n), rows, cols] = 10.0
    out = T.RandomShift(max_shift)(x)
    offsets = []
    for i in range(n):
        r, c = np.unravel_index(np.argmax(out[i]), out[i].shape)
        dy, dx = r - rows[i], c - cols[i]
        assert abs(dy) <= max_shift and abs(dx) <= max_shift
        np.testing.assert_array_equal(out[i], _shift(x[i], dy, dx))
        offsets.append((dy, dx))
    dys, dxs = zip(*offsets, strict=True)
    assert set(dys) == set(dxs) == set(range(-max_shift, max_shift + 1))


def test_crop_with_padding_is_a_shift():
    lm.manual_seed(3)
    x = _images((50, 1, 8, 8))
    out = T.RandomCrop(8, padding=2)(x)
    for i in range(len(x)):
        assert any(np.array_equal(out[i, 0], _shift(x[i, 0], dy, dx))
                   for dy in range(-2, 3) for dx in range(-2, 3))


def test_crop_without_padding_takes_a_window():
    lm.manual_seed(4)
    x = _images((40, 2, 6, 7))
    out = T.RandomCrop((4, 3))(x)
    assert out.shape == (40, 2, 4, 3)
    corners = set()
    for i in range(len(x)):
        matches = [(r, c) for r in range(3) for c in range(5)
                   if np.array_equal(out[i], x[i, :, r:r + 4, c:c + 3])]
        assert len(matches) == 1
        corners.add(matches[0])
    assert len(corners) > 5


def test_crop_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"crop 32x32 is larger than the padded input 30x30"):
        T.RandomCrop(32, padding=1)(np.zeros((2, 28, 28), np.float32))


def test_flip():
    x = _images((10, 3, 5, 6))
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    always = T.RandomHorizontalFlip(p=1.0)
    np.testing.assert_array_equal(always(always(x)), x)
    lm.manual_seed(0)
    out = T.RandomHorizontalFlip(p=0.5)(x)
    flipped = [np.array_equal(out[i], x[i, ..., ::-1]) for i in range(10)]
    kept = [np.array_equal(out[i], x[i]) for i in range(10)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 0 < sum(flipped) < 10


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_rotation_by_zero_is_identity(interpolation):
    x = _images((4, 2, 9, 10))
    np.testing.assert_array_equal(T.RandomRotation(0, interpolation=interpolation)(x), x)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_rotation_by_right_angles_matches_rot90(interpolation):
    x = _images((3, 2, 7, 7), np.float64)
    quarter = T.RandomRotation((90, 90), interpolation=interpolation)(x)
    np.testing.assert_allclose(quarter, np.rot90(x, 1, axes=(2, 3)), atol=1e-12)
    half = T.RandomRotation((180, 180), interpolation=interpolation)(x)
    np.testing.assert_allclose(half, np.rot90(x, 2, axes=(2, 3)), atol=1e-12)


def test_rotation_is_counter_clockwise():
    x = np.zeros((1, 9, 9), np.float32)
    x[0, 4, 7] = 1.0  # right of the centre
    out = T.RandomRotation((90, 90))(x)
    assert np.unravel_index(np.argmax(out[0]), (9, 9)) == (1, 4)  # above the centre


def test_rotation_keeps_mass_of_a_centred_blob():
    rows, cols = np.mgrid[0:28, 0:28]
    blob = np.exp(-((rows - 13.5) ** 2 + (cols - 13.5) ** 2 / 4) / 18).astype(np.float32)
    x = np.repeat(blob[None], 16, axis=0)
    lm.manual_seed(5)
    out = T.RandomRotation(20)(x)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), blob.sum(), rtol=0.02)
    assert not np.allclose(out, x, atol=1e-3)


def test_gaussian_noise_statistics():
    lm.manual_seed(0)
    x = np.full((64, 1, 16, 16), 0.5, np.float32)
    noise = T.GaussianNoise(0.2)(x) - x
    assert abs(noise.mean()) < 0.01
    assert abs(noise.std() - 0.2) < 0.01
    np.testing.assert_array_equal(T.GaussianNoise(0.0)(x), x)


def test_normalize_matches_formula():
    x = _images((4, 3, 5, 5), np.float64)
    mean, std = [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]
    expected = (x - np.array(mean)[None, :, None, None]) / np.array(std)[None, :, None, None]
    np.testing.assert_allclose(T.Normalize(mean, std)(x), expected)
    single = _images((4, 5, 5))
    np.testing.assert_allclose(T.Normalize(0.1307, 0.3081)(single), (single - 0.1307) / 0.3081,
                               rtol=1e-6)


def test_normalize_channel_mismatch_and_integer_input():
    with pytest.raises(ValueError, match=r"has 3 channel\(s\), but mean has 2 values"):
        T.Normalize([0.0, 0.0], [1.0, 1.0])(np.zeros((1, 3, 2, 2), np.float32))
    with pytest.raises(TypeError, match="ToFloat"):
        T.Normalize(0.0, 1.0)(np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(TypeError, match="ToFloat"):
        T.GaussianNoise(0.1)(np.zeros((1, 2, 2), np.uint8))


def test_to_float():
    x = np.array([[[0, 51], [255, 102]]], np.uint8)
    out = T.ToFloat()(x)
    assert out.dtype == np.float32 and out.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(out[0, 0], [[0.0, 0.2], [1.0, 0.4]], rtol=1e-6)
    assert T.ToFloat()(np.zeros((2, 3, 4, 4), np.uint8)).shape == (2, 3, 4, 4)
    assert T.ToFloat(dtype=np.float64)(x).dtype == np.float64
    as_tensor = T.ToFloat()(lm.tensor(x))  # an int64 Tensor of 0..255 intensities
    assert isinstance(as_tensor, lm.Tensor) and as_tensor.dtype == np.float32
    np.testing.assert_allclose(as_tensor.numpy(), out)


def test_compose_applies_in_order():
    composed = T.Compose([lambda x: x + 1, lambda x: x * 2])
    np.testing.assert_array_equal(composed(np.array([1.0, 2.0])), [4.0, 6.0])
    pipeline = T.Compose([T.ToFloat(), T.RandomShift(1), T.Normalize(0.5, 0.5)])
    out = pipeline(np.zeros((3, 6, 6), np.uint8))
    assert out.shape == (3, 1, 6, 6) and out.dtype == np.float32
    text = repr(pipeline)
    assert text.index("ToFloat()") < text.index("RandomShift(max_shift=1)") < text.index(
        "Normalize(mean=0.5, std=0.5)")


def test_reprs():
    assert repr(T.RandomShift(2)) == "RandomShift(max_shift=2)"
    assert repr(T.RandomCrop(28, padding=4)) == "RandomCrop(size=28, padding=4)"
    assert repr(T.RandomHorizontalFlip()) == "RandomHorizontalFlip(p=0.5)"
    assert repr(T.RandomRotation(10)) == "RandomRotation(degrees=10, interpolation='bilinear')"
    assert repr(T.GaussianNoise(0.1)) == "GaussianNoise(std=0.1)"
    assert repr(T.Compose([])) == "Compose([])"


@pytest.mark.parametrize("transform", GEOMETRIC, ids=repr)
def test_geometric_transforms_need_image_batches(transform):
    with pytest.raises(ValueError, match=r"expected a batch of images of shape \(N, C, H, W\)"):
        transform(np.zeros((28, 28), np.float32))


@pytest.mark.parametrize(("build", "match"), [
    (lambda: T.RandomShift(-1), "max_shift"),
    (lambda: T.RandomShift(1.5), "max_shift"),
    (lambda: T.RandomShift((1, 2, 3)), "max_shift"),
    (lambda: T.RandomCrop(0), "size"),
    (lambda: T.RandomCrop(4, padding=-1), "padding"),
    (lambda: T.RandomHorizontalFlip(p=1.5), "p must be a probability"),
    (lambda: T.RandomRotation(-5), "degrees must be >= 0"),
    (lambda: T.RandomRotation((10, 5)), "low must be <= high"),
    (lambda: T.RandomRotation(float("nan")), "degrees must be a finite number"),
    (lambda: T.RandomRotation(5, interpolation="cubic"), "interpolation"),
    (lambda: T.GaussianNoise(-0.1), "std must be >= 0"),
    (lambda: T.Normalize(0.0, 0.0), "std must be positive"),
    (lambda: T.Normalize([0.0, 0.0], [1.0, 1.0, 1.0]), "same number of channels"),
    (lambda: T.Normalize("a", 1.0), "mean"),
    (lambda: T.ToFloat(dtype=np.int32), "dtype"),
    (lambda: T.Compose([T.ToFloat(), 3]), r"transforms\[1\] is not callable"),
    (lambda: T.Compose(T.ToFloat()), "expected a list"),
])
def test_argument_validation(build, match):
    with pytest.raises(ValueError, match=match):
        build()
