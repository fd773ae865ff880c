"""The device API (lamina/device.py, cuda.py, accelerator.py, backends/): torch's answers on a
machine without a GPU, and clear errors when a script asks for a device lamina lacks."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import lamina as lm


@pytest.mark.parametrize("spec", ["cpu", "cuda", "cuda:1", "mps", ("cuda", 0), ("cpu", 0)])
def test_device_objects_match_torch(torch, spec):
    args = spec if isinstance(spec, tuple) else (spec,)
    ours, theirs = lm.device(*args), torch.device(*args)
    assert repr(ours) == repr(theirs) and str(ours) == str(theirs)
    assert ours.type == theirs.type and ours.index == theirs.index
    assert lm.device(ours) == ours and hash(ours) == hash(lm.device(*args))
    assert pickle.loads(pickle.dumps(ours)) == ours


def test_device_errors_and_equality():
    assert lm.device("cpu") == "cpu" and lm.device("cuda:0") != lm.device("cuda")
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
        lm.device("gpu")
    with pytest.raises(RuntimeError, match="Invalid device string"):
        lm.device("cuda:x")
    with pytest.raises(AttributeError, match="immutable"):
        lm.device("cpu").type = "cuda"


def test_cuda_accelerator_backends_answer_as_torch_without_a_gpu():
    assert lm.cuda.is_available() is False and lm.cuda.device_count() == 0
    assert lm.cuda.is_initialized() is False
    lm.cuda.manual_seed(1)
    lm.cuda.manual_seed_all(1)
    with pytest.raises(RuntimeError, match="no CUDA devices"):
        lm.cuda.current_device()
    assert lm.accelerator.is_available() is False and lm.accelerator.current_accelerator() is None
    assert lm.accelerator.device_count() == 0
    assert lm.backends.mps.is_available() is False and lm.backends.mps.is_built() is False
    assert lm.backends.cudnn.is_available() is False and lm.backends.cuda.is_built() is False
    lm.cuda.empty_cache()


def test_cudnn_flags_are_settable():
    cudnn = lm.backends.cudnn
    saved = cudnn.benchmark, cudnn.deterministic
    try:
        cudnn.benchmark, cudnn.deterministic = True, True
        lm.backends.cuda.matmul.allow_tf32 = True
        assert lm.backends.cudnn.benchmark and lm.backends.cudnn.deterministic
        assert lm.backends.cuda.matmul.allow_tf32
    finally:
        cudnn.benchmark, cudnn.deterministic = saved
        lm.backends.cuda.matmul.allow_tf32 = False


def test_device_boilerplate_of_published_scripts():
    use_accel = lm.accelerator.is_available()
    device = lm.accelerator.current_accelerator() if use_accel else lm.device("cpu")
    device = lm.device("cuda" if lm.cuda.is_available() else "cpu") if device is None else device
    x = lm.ones(2).to(device)
    model = lm.nn.Linear(2, 1).to(device)
    assert x.device == device == lm.device("cpu") and model(x).shape == (1,)
    assert x.cpu() is x and x.to("cpu") is x and not x.is_cuda


def test_tensor_to_forms():
    x = lm.tensor([1.5, 2.5], requires_grad=True)
    assert x.to(lm.float64).dtype == lm.float64 and x.to("cpu", lm.float64).dtype == lm.float64
    assert x.to(lm.device("cpu"), dtype=lm.float64).dtype == lm.float64
    assert x.to(lm.zeros(1, dtype=lm.float64)).dtype == lm.float64
    assert x.to(dtype=lm.float32) is x and x.to(lm.float32, copy=True) is not x
    y = x.to(lm.float64)
    y.sum().backward()
    assert x.grad.dtype == lm.float32 and x.grad.tolist() == [1.0, 1.0]
    assert x.to("float64").dtype == lm.float64  # a dtype name is still a dtype


@pytest.mark.parametrize("call", [
    lambda: lm.ones(2).to("cuda"), lambda: lm.ones(2).to(lm.device("cuda:0")),
    lambda: lm.ones(2).cuda(), lambda: lm.ones(2).to("mps"), lambda: lm.ones(2, device="cuda"),
    lambda: lm.zeros(2, device="cuda"), lambda: lm.tensor([1.0], device="cuda"),
    lambda: lm.randn(2, device="cuda"), lambda: lm.nn.Linear(2, 2).to("cuda"),
    lambda: lm.nn.Linear(2, 2).cuda(), lambda: lm.ones(2).to(0), lambda: lm.Generator("cuda"),
])
def test_asking_for_a_missing_device_is_a_clear_error(call):
    with pytest.raises(RuntimeError, match="lamina runs on the CPU only"):
        call()


def test_creation_functions_accept_the_cpu():
    for make in (lambda d: lm.zeros(2, device=d), lambda d: lm.ones(2, device=d),
                 lambda d: lm.tensor([1.0], device=d), lambda d: lm.randn(2, device=d),
                 lambda d: lm.arange(3, device=d), lambda d: lm.empty(2, device=d),
                 lambda d: lm.full((2,), 1.0, device=d), lambda d: lm.eye(2, device=d),
                 lambda d: lm.linspace(0, 1, 3, device=d), lambda d: lm.randperm(3, device=d),
                 lambda d: lm.zeros_like(lm.ones(2), device=d)):
        for d in ("cpu", lm.device("cpu"), None):
            assert make(d).device == lm.device("cpu")


def test_module_to_dtype_and_device():
    model = lm.nn.Sequential(lm.nn.Linear(2, 3), lm.nn.ReLU(), lm.nn.Linear(3, 1))
    model.register_buffer("steps", lm.tensor([0]))
    assert model.to("cpu") is model and model.cpu() is model
    assert model.to(lm.device("cpu"), lm.float64) is model
    assert all(p.dtype == lm.float64 for p in model.parameters())
    assert model.steps.dtype == lm.long  # integer buffers keep their dtype
    model.to(dtype=lm.float32)
    assert all(p.dtype == lm.float32 for p in model.parameters())
    model.to(lm.zeros(1, dtype=lm.float64))
    assert model(lm.ones(1, 2, dtype=lm.float64)).dtype == lm.float64
    with pytest.raises(TypeError, match="expected a floating dtype"):
        model.to(lm.long)
    np.testing.assert_array_equal(model.steps.numpy(), [0])
