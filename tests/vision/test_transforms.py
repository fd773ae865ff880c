"""lamina.vision.transforms on PIL images, Tensors and arrays: torchvision's documented results."""

import numpy as np
import pytest

import lamina as lm
from lamina.vision import transforms as T

Image = pytest.importorskip("PIL.Image")


def _gray(h=4, w=5):
    return np.arange(h * w, dtype=np.uint8).reshape(h, w) * 10


def _rgb(h=4, w=5):
    return np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3)


def test_to_tensor_scales_uint8_and_moves_channels_first():
    out = T.ToTensor()(Image.fromarray(_rgb()))
    assert out.shape == (3, 4, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), _rgb().transpose(2, 0, 1) / 255.0, rtol=1e-6)
    gray = T.ToTensor()(_gray())
    assert gray.shape == (1, 4, 5) and float(gray.numpy().max()) == pytest.approx(190 / 255)
    floats = T.ToTensor()(np.full((2, 2, 1), 3.0, np.float64))
    assert floats.dtype == np.float64 and floats.numpy().max() == 3.0  # not scaled
    assert T.PILToTensor()(Image.fromarray(_gray())).numpy().max() == 190


def test_normalize_per_channel():
    x = lm.tensor(np.ones((2, 3, 3), np.float32))
    out = T.Normalize((0.5, 0.25), (0.5, 2.0))(x)
    np.testing.assert_allclose(out.numpy()[0], 1.0)
    np.testing.assert_allclose(out.numpy()[1], 0.375)
    with pytest.raises(TypeError, match="floating"):
        T.Normalize((0.5,), (0.5,))(lm.tensor(np.ones((1, 2, 2), np.int64)))
    with pytest.raises(ValueError, match="zeros"):
        T.Normalize((0.5,), (0.0,))


def test_compose_and_lambda():
    pipeline = T.Compose([T.ToTensor(), T.Lambda(lambda t: t * 2)])
    np.testing.assert_allclose(pipeline(_gray()).numpy()[0], _gray() / 255.0 * 2, rtol=1e-6)
    assert "Lambda()" in repr(pipeline)


def test_pad_modes_by_hand():
    x = np.array([[1, 2], [3, 4]], np.uint8)
    np.testing.assert_array_equal(T.Pad(1, fill=9)(x)[0], [9, 9, 9, 9])
    np.testing.assert_array_equal(T.Pad([1, 0], padding_mode="edge")(x), [[1, 1, 2, 2],
                                                                        [3, 3, 4, 4]])
    np.testing.assert_array_equal(T.Pad([0, 0, 1, 0], padding_mode="reflect")(x),
                                  [[1, 2, 1], [3, 4, 3]])
    pil = T.Pad((1, 2, 3, 4))(Image.fromarray(x))
    assert pil.size == (2 + 1 + 3, 2 + 2 + 4)
    tensor = T.Pad(1)(lm.tensor(x[None].astype(np.float32)))
    assert tensor.shape == (1, 4, 4) and float(tensor.numpy()[0, 1, 1]) == 1.0


def test_center_crop():
    x = np.arange(36, dtype=np.uint8).reshape(6, 6)
    np.testing.assert_array_equal(T.CenterCrop(2)(x), [[14, 15], [20, 21]])
    pil = T.CenterCrop((2, 4))(Image.fromarray(x))
    np.testing.assert_array_equal(np.asarray(pil), x[2:4, 1:5])
    bigger = T.CenterCrop(8)(x)  # zero padding around, as torchvision
    assert bigger.shape == (8, 8) and bigger[0].sum() == 0 and bigger[1, 1] == 0


@pytest.mark.parametrize("kind", ["pil", "tensor", "array"])
def test_random_crop_with_padding_is_a_window_of_the_padded_image(kind):
    x = (np.arange(64, dtype=np.uint8).reshape(8, 8) + 1)
    padded = np.pad(x, 2)
    img = {"pil": Image.fromarray(x), "array": x,
           "tensor": lm.tensor(x[None].astype(np.float32))}[kind]
    lm.manual_seed(3)
    seen = set()
    for _ in range(30):
        out = T.RandomCrop(8, padding=2)(img)
        array = {"pil": lambda o: np.asarray(o), "array": lambda o: o,
                 "tensor": lambda o: o.numpy()[0]}[kind](out)
        assert array.shape == (8, 8)
        spots = [(i, j) for i in range(5) for j in range(5)
                 if np.array_equal(padded[i:i + 8, j:j + 8], array)]
        assert spots
        seen.add(spots[0])
    assert len(seen) > 5  # corners drawn at random
    lm.manual_seed(3)
    again = T.RandomCrop(8, padding=2)(img)
    lm.manual_seed(3)
    assert np.array_equal(np.asarray(T.RandomCrop(8, padding=2)(img)), np.asarray(again))
    with pytest.raises(ValueError, match="larger"):
        T.RandomCrop(20)(img)


def test_random_flips():
    x = _rgb()
    assert np.array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[:, ::-1])
    assert np.array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    assert np.array_equal(T.RandomVerticalFlip(p=1.0)(x), x[::-1])
    pil = T.RandomHorizontalFlip(p=1.0)(Image.fromarray(x))
    assert np.array_equal(np.asarray(pil), x[:, ::-1])
    t = T.RandomHorizontalFlip(p=1.0)(lm.tensor(x.transpose(2, 0, 1).astype(np.float32)))
    assert np.array_equal(t.numpy(), x.transpose(2, 0, 1)[:, :, ::-1])
    lm.manual_seed(0)
    flips = sum(np.array_equal(T.RandomHorizontalFlip()(x), x[:, ::-1]) for _ in range(200))
    assert 70 < flips < 130


@pytest.mark.parametrize("kind", ["pil", "tensor"])
def test_random_rotation_by_fixed_angles(kind):
    x = np.arange(25, dtype=np.uint8).reshape(5, 5)
    img = Image.fromarray(x) if kind == "pil" else lm.tensor(x[None].astype(np.float32))

    def values(out):
        return np.asarray(out) if kind == "pil" else out.numpy()[0]

    assert np.array_equal(values(T.RandomRotation((180, 180))(img)), x[::-1, ::-1])
    assert np.array_equal(values(T.RandomRotation((90, 90))(img)), np.rot90(x))  # anticlockwise
    assert np.array_equal(values(T.RandomRotation(0)(img)), x)
    with pytest.raises(ValueError, match=">= 0"):
        T.RandomRotation(-5)


def test_resize_sizes_and_values():
    pil = T.Resize(14)(Image.fromarray(np.zeros((28, 56), np.uint8)))
    assert pil.size == (28, 14)  # smaller edge to 14, aspect kept: (width, height)
    assert T.Resize((10, 7))(Image.fromarray(_rgb())).size == (7, 10)
    constant = lm.tensor(np.full((2, 6, 6), 0.25, np.float32))
    out = T.Resize(3)(constant)
    assert out.shape == (2, 3, 3)
    np.testing.assert_allclose(out.numpy(), 0.25, rtol=1e-6)
    stripes = np.tile(np.array([0, 255], np.uint8), (4, 2))  # (4, 4) columns 0, 255, 0, 255
    halved = T.Resize((4, 2), interpolation=T.InterpolationMode.BILINEAR)(stripes)
    # Pillow's antialiased bilinear (torchvision's PIL path): output x averages the inputs within
    # 2 pixels of its centre 2x + 1 with triangle weights 1 - d / 2: (0.75, 0.75, 0.25) / 1.75
    assert halved.tolist() == [[round(255 * 0.75 / 1.75), round(255 * 1.0 / 1.75)]] * 4


def test_grayscale():
    x = _rgb().astype(np.float32) / 255
    t = lm.tensor(x.transpose(2, 0, 1))
    gray = T.Grayscale()(t)
    expected = 0.2989 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    np.testing.assert_allclose(gray.numpy()[0], expected, rtol=1e-5)
    assert T.Grayscale(3)(t).shape == (3, 4, 5)
    assert T.Grayscale()(Image.fromarray(_rgb())).mode == "L"


def test_bad_inputs_are_named():
    with pytest.raises(TypeError, match="PIL image"):
        T.RandomHorizontalFlip()([1, 2, 3])
    with pytest.raises(TypeError, match="callable"):
        T.Compose([1])
    with pytest.raises(ValueError, match="padding"):
        T.Pad(-1)
