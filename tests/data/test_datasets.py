"""Tests for lamina/data/datasets.py: mnist() sources, resolution order, download, validation."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from lamina.data import datasets
from lamina.data.datasets import mnist

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"
SMALL_MNIST = resources.files("lamina.data") / "mnist_small.npz"
ENV_VARS = (
    "LAMINA_DATA",
    "LAMINA_CACHE",
    "LAMINA_MNIST_URL",
    "LAMINA_MNIST_SHA256",
    "LAMINA_OFFLINE",
    "XDG_CACHE_HOME",
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No test reads the real user cache, a developer's $LAMINA_* or the network."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LAMINA_OFFLINE", "1")
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


def fake_mnist_bytes(n_train: int = 20, n_test: int = 10, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=np.arange(n_train, dtype=np.uint8) % 10,
        x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        y_test=np.arange(n_test, dtype=np.uint8) % 10,
    )
    return buffer.getvalue()


def write_fake(path: Path, n_train: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fake_mnist_bytes(n_train=n_train))
    return path


def n_train_of(result) -> int:
    (x_train, _), _ = result
    return len(x_train)


# --- the embedded subset ---------------------------------------------------------------------


def test_small_subset_shapes_dtypes_balance():
    (x_train, y_train), (x_test, y_test) = mnist(subset="small")
    assert x_train.shape == (6000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.uint8 and x_test.dtype == np.uint8
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), np.full(10, 600))
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), np.full(10, 100))
    assert x_train.max() == 255 and x_train.min() == 0


def test_small_subset_file_is_at_most_3mb():
    assert SMALL_MNIST.is_file()
    assert len(SMALL_MNIST.read_bytes()) <= 3_000_000


def test_small_subset_ignores_path_and_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LAMINA_DATA", str(write_fake(tmp_path / "env" / "mnist.npz", 30)))
    assert n_train_of(mnist(subset="small")) == 6000


def test_bad_subset_and_path_with_subset():
    with pytest.raises(ValueError, match=r"subset='tiny'.*'small'"):
        mnist(subset="tiny")
    with pytest.raises(ValueError, match="pass one, not both"):
        mnist("somewhere.npz", subset="small")


@pytest.mark.skipif(not SHARED_MNIST.is_file(), reason=f"{SHARED_MNIST} not present")
def test_small_subset_matches_script_and_full_mnist():
    """The shipped file is what scripts/make_mnist_small.py builds, drawn from full MNIST."""
    spec = importlib.util.spec_from_file_location(
        "make_mnist_small", REPO_ROOT / "scripts" / "make_mnist_small.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rebuilt = script.build_subset(SHARED_MNIST)
    (x_train, y_train), (x_test, y_test) = mnist(subset="small")
    np.testing.assert_array_equal(rebuilt["x_train"], x_train)
    np.testing.assert_array_equal(rebuilt["y_train"], y_train)
    np.testing.assert_array_equal(rebuilt["x_test"], x_test)
    np.testing.assert_array_equal(rebuilt["y_test"], y_test)


@pytest.mark.skipif(not SHARED_MNIST.is_file(), reason=f"{SHARED_MNIST} not present")
def test_full_mnist_from_shared_file():
    (x_train, y_train), (x_test, y_test) = mnist(SHARED_MNIST.parent)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.dtype == np.int64 and set(np.unique(y_test)) == set(range(10))


# --- resolution order ------------------------------------------------------------------------


def test_path_beats_env_beats_cache(monkeypatch, tmp_path):
    explicit = write_fake(tmp_path / "explicit" / "mnist.npz", 10)
    env_file = write_fake(tmp_path / "env" / "mnist.npz", 20)
    write_fake(tmp_path / "cache" / "mnist.npz", 30)
    monkeypatch.setenv("LAMINA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LAMINA_DATA", str(env_file))

    assert n_train_of(mnist(explicit)) == 10
    assert n_train_of(mnist(str(explicit.parent))) == 10  # a directory holding mnist.npz
    assert n_train_of(mnist()) == 20
    monkeypatch.setenv("LAMINA_DATA", str(env_file.parent))
    assert n_train_of(mnist()) == 20
    monkeypatch.delenv("LAMINA_DATA")
    assert n_train_of(mnist()) == 30


def test_env_pointing_nowhere_falls_back_to_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path / "missing"))
    write_fake(tmp_path / "cache" / "mnist.npz", 30)
    assert n_train_of(mnist(cache_dir=tmp_path / "cache")) == 30


def test_cache_dir_argument_beats_env_cache(monkeypatch, tmp_path):
    write_fake(tmp_path / "env_cache" / "mnist.npz", 30)
    write_fake(tmp_path / "arg_cache" / "mnist.npz", 40)
    monkeypatch.setenv("LAMINA_CACHE", str(tmp_path / "env_cache"))
    assert n_train_of(mnist(cache_dir=tmp_path / "arg_cache")) == 40


def test_default_cache_is_under_home(monkeypatch, tmp_path):
    write_fake(tmp_path / "home" / ".cache" / "lamina" / "mnist.npz", 50)
    assert n_train_of(mnist()) == 50
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_fake(tmp_path / "xdg" / "lamina" / "mnist.npz", 60)
    assert n_train_of(mnist()) == 60


def test_missing_explicit_path_does_not_fall_back(monkeypatch, tmp_path):
    monkeypatch.setenv("LAMINA_DATA", str(write_fake(tmp_path / "env" / "mnist.npz", 20)))
    with pytest.raises(FileNotFoundError, match=r"typo\.npz.*no such file"):
        mnist(tmp_path / "typo.npz")


def test_nothing_found_lists_places_and_fixes(monkeypatch, tmp_path):
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as info:
        mnist(cache_dir=tmp_path / "cache")
    message = str(info.value)
    for expected in (
        "nowhere",
        str(tmp_path / "cache" / "mnist.npz"),
        "download: disabled",
        "path=",
        "LAMINA_DATA",
        "subset='small'",
    ):
        assert expected in message


# --- validation ------------------------------------------------------------------------------


def small_arrays(**overrides) -> dict[str, np.ndarray]:
    arrays = {
        "x_train": np.zeros((2, 28, 28), np.uint8),
        "y_train": np.zeros(2, np.uint8),
        "x_test": np.zeros((1, 28, 28), np.uint8),
        "y_test": np.zeros(1, np.uint8),
    }
    arrays.update(overrides)
    return {name: array for name, array in arrays.items() if array is not None}


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"x_test": None}, r"not an MNIST archive.*'x_test'"),
        ({"x_train": np.zeros((2, 784), np.uint8)}, r"x_train has shape \(2, 784\), expected"),
        (
            {"x_train": np.zeros((2, 28, 28), np.float32)},
            "x_train has dtype float32, expected uint8",
        ),
        ({"y_train": np.zeros(3, np.uint8)}, r"y_train has shape \(3,\), expected \(2,\)"),
        ({"y_test": np.array([12])}, r"y_test has labels in 12\.\.12, expected digits 0\.\.9"),
        ({"y_test": np.array([0.5])}, "y_test has dtype float64, expected integer"),
    ],
    ids=[
        "missing-key",
        "flat-images",
        "float-images",
        "label-count",
        "label-range",
        "float-labels",
    ],
)
def test_invalid_archive_is_value_error(tmp_path, overrides, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **small_arrays(**overrides))
    with pytest.raises(ValueError, match=match):
        mnist(path)


# --- download --------------------------------------------------------------------------------


@pytest.fixture
def http_server():
    """A server on 127.0.0.1 serving `routes` (URL path -> bytes); 404 for anything else."""
    routes: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield base, routes
    server.shutdown()
    server.server_close()
    thread.join()


def test_download_verifies_and_lands_in_cache(http_server, tmp_path):
    base, routes = http_server
    body = fake_mnist_bytes(n_train=20)
    routes["/mnist.npz"] = body
    cache = tmp_path / "cache"
    digest = hashlib.sha256(body).hexdigest()

    result = mnist(download=True, url=f"{base}/mnist.npz", sha256=digest, cache_dir=cache)
    assert n_train_of(result) == 20
    assert sorted(p.name for p in cache.iterdir()) == ["mnist.npz"]
    assert (cache / "mnist.npz").read_bytes() == body

    routes.clear()  # now served from the cache, no request made
    assert n_train_of(mnist(download=True, url=f"{base}/mnist.npz", cache_dir=cache)) == 20


def test_download_url_and_hash_from_env(http_server, monkeypatch, tmp_path):
    base, routes = http_server
    body = fake_mnist_bytes(n_train=30)
    routes["/m.npz"] = body
    monkeypatch.setenv("LAMINA_OFFLINE", "0")
    monkeypatch.setenv("LAMINA_MNIST_URL", f"{base}/m.npz")
    monkeypatch.setenv("LAMINA_MNIST_SHA256", hashlib.sha256(body).hexdigest())
    monkeypatch.setenv("LAMINA_CACHE", str(tmp_path / "cache"))
    assert n_train_of(mnist()) == 30
    assert (tmp_path / "cache" / "mnist.npz").is_file()


def test_corrupt_download_leaves_nothing(http_server, tmp_path):
    base, routes = http_server
    good = fake_mnist_bytes()
    routes["/mnist.npz"] = b"not the file you expected" * 100
    cache = tmp_path / "cache"
    expected = hashlib.sha256(good).hexdigest()
    received = hashlib.sha256(routes["/mnist.npz"]).hexdigest()

    with pytest.raises(ValueError, match=f"expected {expected}, received {received}"):
        mnist(download=True, url=f"{base}/mnist.npz", sha256=expected, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_default_hashes_reject_unknown_file(http_server, tmp_path):
    base, routes = http_server
    routes["/mnist.npz"] = fake_mnist_bytes()
    with pytest.raises(ValueError, match=datasets.MNIST_SHA256):
        mnist(download=True, url=f"{base}/mnist.npz", cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_http_404_is_clear_error(http_server, tmp_path):
    base, _ = http_server
    url = f"{base}/missing.npz"
    with pytest.raises(FileNotFoundError, match=r"(?s)download from .*missing\.npz.*404") as info:
        mnist(download=True, url=url, sha256="0" * 64, cache_dir=tmp_path / "cache")
    assert "subset='small'" in str(info.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_offline_env_disables_download_unless_forced(http_server, tmp_path):
    base, routes = http_server
    body = fake_mnist_bytes()
    routes["/mnist.npz"] = body
    kwargs = {
        "url": f"{base}/mnist.npz",
        "sha256": hashlib.sha256(body).hexdigest(),
        "cache_dir": tmp_path / "cache",
    }
    with pytest.raises(FileNotFoundError, match="download: disabled"):
        mnist(**kwargs)  # LAMINA_OFFLINE=1 from the autouse fixture
    assert n_train_of(mnist(download=True, **kwargs)) == 20


def test_bad_sha256_argument():
    with pytest.raises(ValueError, match="sha256= must be 64 hex digits"):
        mnist(download=True, sha256="abc")
