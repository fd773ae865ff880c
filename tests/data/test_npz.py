"""Tests for lamina/data/npz.py: load_npz reads arrays and refuses anything unsafe or broken."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from lamina.data.npz import NpzKeyError, load_npz


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "arrays.npz"
    rng = np.random.default_rng(0)
    np.savez_compressed(path, a=rng.standard_normal((3, 4)), b=np.arange(5, dtype=np.uint8))
    return path


def test_reads_all_arrays_in_archive_order(archive):
    arrays = load_npz(archive)
    assert list(arrays) == ["a", "b"]
    assert arrays["a"].shape == (3, 4) and arrays["a"].dtype == np.float64
    np.testing.assert_array_equal(arrays["b"], np.arange(5, dtype=np.uint8))


def test_keys_select_and_order(archive):
    assert list(load_npz(archive, keys=["b", "a"])) == ["b", "a"]
    assert list(load_npz(str(archive), keys="b")) == ["b"]


def test_missing_file_names_path(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_npz(missing)


def test_directory_is_rejected(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_npz(tmp_path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"this is plain text\n", r"not a zip archive \(first bytes b'this i'\)"),
        (b"PK\x03\x04 truncated zip header", ""),
        (b"", "empty"),
    ],
    ids=["text", "truncated-zip", "empty"],
)
def test_not_an_npz_is_value_error_naming_file(tmp_path, content, reason):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"bad\.npz' is not a valid \.npz file: " + reason):
        load_npz(path)


def test_lone_npy_file_is_rejected(tmp_path):
    path = tmp_path / "single.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        load_npz(path)


def test_corrupt_member_is_value_error(tmp_path, archive):
    data = bytearray(archive.read_bytes())
    # Flip bytes in the middle of the first member's compressed data.
    data[200:240] = bytes(b ^ 0xFF for b in data[200:240])
    broken = tmp_path / "broken.npz"
    broken.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"broken\.npz' is not a valid \.npz file"):
        load_npz(broken)


def test_non_array_member_is_rejected(tmp_path):
    path = tmp_path / "mixed.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="'readme.txt' is not a .npy array"):
        load_npz(path)


def test_missing_key_names_key_and_keys_present(archive):
    with pytest.raises(KeyError, match=r"'zzz'.*\['a', 'b'\]"):
        load_npz(archive, keys=["a", "zzz"])
    with pytest.raises(ValueError, match="no array named 'zzz'"):
        load_npz(archive, keys="zzz")
    assert issubclass(NpzKeyError, KeyError) and issubclass(NpzKeyError, ValueError)


def test_non_string_key_is_type_error(archive):
    with pytest.raises(TypeError, match="expected array names"):
        load_npz(archive, keys=[0])


def test_object_array_is_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, ok=np.arange(2), objs=np.array([{"x": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="'objs' holds Python objects.*pickle"):
        load_npz(path)
    assert list(load_npz(path, keys="ok")) == ["ok"]
