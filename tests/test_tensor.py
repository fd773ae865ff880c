"""Tensor and the autograd engine: dtypes, graph building, accumulation, no_grad, errors."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import nn
from lamina.tensor import maximum, where


# ----------------------------------------------------------------------------- construction
class TestDtypes:
    def test_python_floats_become_float32(self):
        assert lm.tensor([1.5]).dtype == np.float32
        assert lm.tensor(1.5).dtype == np.float32
        assert lm.tensor([[1.0, 2.0]]).dtype == lm.float32

    def test_floating_numpy_keeps_its_dtype(self):
        assert lm.tensor(np.zeros(3)).dtype == np.float64
        assert lm.tensor(np.zeros(3, np.float32)).dtype == np.float32
        assert lm.tensor(np.float64(1.5)).dtype == np.float64

    def test_array_likes_keep_their_dtype(self, torch):
        assert lm.tensor(torch.zeros(2, dtype=torch.float64)).dtype == np.float64
        assert lm.tensor(torch.zeros(2)).dtype == np.float32
        assert lm.tensor((1.0, 2.0)).dtype == np.float32

    def test_integers_become_int64(self):
        assert lm.tensor([1, 2, 3]).dtype == np.int64
        assert lm.tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int64
        assert lm.tensor(7).dtype == lm.int64

    def test_bools_stay_bool(self):
        assert lm.tensor([True, False]).dtype == np.bool_

    @pytest.mark.parametrize("dtype", [lm.float64, np.float64, "float64"])
    def test_dtype_argument_spellings(self, dtype):
        t = lm.tensor([1, 2], dtype=dtype)
        assert t.dtype == np.float64
        assert lm.zeros(2, dtype=dtype).dtype == np.float64
        assert lm.randn(2, dtype=dtype).dtype == np.float64

    @pytest.mark.parametrize("bad", ["float65", "floatish", "tensor"])
    def test_unknown_dtype_string(self, bad):
        with pytest.raises(TypeError, match=f"unknown dtype '{bad}'.*float64"):
            lm.tensor([1.0], dtype=bad)

    def test_constructors_default_to_float32(self):
        for t in [lm.zeros(2, 3), lm.ones((2, 3)), lm.randn(2, 3), lm.rand(2, 3)]:
            assert t.dtype == np.float32 and t.shape == (2, 3)
        assert lm.zeros_like(lm.ones(2, dtype="float64")).dtype == np.float64
        assert lm.ones_like(np.zeros((2, 2), np.float32)).dtype == np.float32

    def test_arange(self):
        assert lm.arange(5).dtype == np.int64
        assert lm.arange(5).tolist() == [0, 1, 2, 3, 4]
        assert lm.arange(0, 1, 0.25).dtype == np.float32
        assert lm.arange(0, 1, 0.5, dtype="float64").dtype == np.float64

    def test_tensor_copies_a_tensor(self):
        a = lm.tensor([1.0, 2.0])
        b = lm.tensor(a)
        b._data[0] = 5
        assert a._data[0] == 1

    def test_only_floats_require_grad(self):
        with pytest.raises(TypeError, match="floating-point.*int64"):
            lm.tensor([1, 2], requires_grad=True)


class TestArrayInterop:
    def test_numpy_item_detach(self):
        t = lm.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        assert isinstance(t.numpy(), np.ndarray)
        np.testing.assert_array_equal(np.asarray(t), [[1, 2], [3, 4]])
        assert np.asarray(t, dtype=np.float64).dtype == np.float64
        assert t.sum().item() == 10.0
        assert isinstance(t.sum().item(), float)
        d = t.detach()
        assert not d.requires_grad and d.is_leaf
        assert np.shares_memory(d._data, t._data)
        assert t.shape == (2, 2) and t.ndim == 2 and t.numel() == 4 and len(t) == 2

    def test_item_needs_one_element(self):
        with pytest.raises(ValueError, match=r"one-element.*\(2,\)"):
            lm.tensor([1.0, 2.0]).item()

    def test_repr(self):
        assert repr(lm.tensor([1.0, 2.0])) == "tensor([1., 2.])"
        assert "dtype=float64" in repr(lm.tensor(np.zeros(1)))
        assert "requires_grad=True" in repr(lm.tensor([1.0], requires_grad=True))

    def test_comparisons_are_bool_without_grad(self):
        a = lm.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = lm.tensor([3.0, 2.0, 1.0])
        for result, expected in [(a < b, [1, 0, 0]), (a <= b, [1, 1, 0]), (a > b, [0, 0, 1]),
                                 (a >= 2, [0, 1, 1]), (a == b, [0, 1, 0]), (a != b, [1, 0, 1])]:
            assert result.dtype == np.bool_
            assert not result.requires_grad
            np.testing.assert_array_equal(result._data, np.array(expected, dtype=bool))


# ----------------------------------------------------------------------------- autograd
class TestAutograd:
    def test_long_chain_has_no_recursion_error(self):
        x = lm.tensor([2.0], dtype="float64", requires_grad=True)
        y = x
        for _ in range(100_000):
            y = y + 1e-6
        y.sum().backward()
        np.testing.assert_allclose(x.grad._data, [1.0])
        del y  # freeing a 100,000-deep graph must not overflow the C stack either

    def test_tensor_used_twice_accumulates(self):
        x = lm.tensor([1.0, -2.0, 3.0], dtype="float64", requires_grad=True)
        y = x * x + x
        y.sum().backward()
        np.testing.assert_allclose(x.grad._data, 2 * x._data + 1)

    def test_diamond_graph(self):
        x = lm.tensor(np.array(1.5), requires_grad=True)
        a, b = x.exp(), x * 3
        z = a * b + a
        z.backward()
        np.testing.assert_allclose(x.grad._data, np.exp(1.5) * (3 * 1.5 + 3) + np.exp(1.5))

    def test_gradients_accumulate_across_backward_calls(self):
        x = lm.tensor([1.0, 2.0], requires_grad=True)
        (x * 3).sum().backward()
        (x * x).sum().backward()
        np.testing.assert_allclose(x.grad._data, [3 + 2, 3 + 4])
        x.zero_grad()
        assert x.grad is None

    def test_backward_twice_on_the_same_graph(self):
        x = lm.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        y.backward()
        y.backward(retain_graph=True)
        np.testing.assert_allclose(x.grad._data, 2 * 2 * x._data)

    def test_backward_with_explicit_gradient(self):
        x = lm.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        y.backward(lm.tensor([1.0, 0.0, -1.0]))
        np.testing.assert_allclose(x.grad._data, [2.0, 0.0, -2.0])

    def test_backward_on_non_scalar_needs_a_gradient(self):
        y = lm.tensor([1.0, 2.0], requires_grad=True) * 2
        with pytest.raises(RuntimeError, match=r"only for a scalar output.*shape \(2,\)"):
            y.backward()
        with pytest.raises(ValueError, match=r"grad has shape \(3,\), expected.*\(2,\)"):
            y.backward(np.ones(3))

    def test_backward_without_graph(self):
        with pytest.raises(RuntimeError, match="does not require grad"):
            lm.tensor([1.0]).sum().backward()

    def test_non_leaf_has_no_grad_and_constants_get_none(self):
        x = lm.tensor([1.0], requires_grad=True)
        c = lm.tensor([2.0])
        y = x * c
        z = y * 2
        z.sum().backward()
        assert y.grad is None and not y.is_leaf
        assert c.grad is None
        np.testing.assert_allclose(x.grad._data, [4.0])

    def test_grad_is_a_private_copy(self):
        """Two leaves fed the same gradient array must not alias each other's .grad."""
        a = lm.tensor([1.0], requires_grad=True)
        b = lm.tensor([1.0], requires_grad=True)
        (a + b).sum().backward()
        a.grad._data[0] = 100
        assert b.grad._data[0] == 1

    def test_seed_gradient_is_not_aliased_by_a_leaf(self):
        w = lm.tensor([1.0, 2.0, 3.0], requires_grad=True)
        seed = np.ones(3, np.float32)
        (w + 0).backward(seed)
        seed[:] = 7
        np.testing.assert_array_equal(w.grad._data, [1, 1, 1])

    def test_fresh_gradients_of_linear_are_kept_and_independent(self, rng):
        """linear is registered with fresh_grads: its gradients become the leaves' .grad
        without a copy; each must still be an array of its own."""
        x = lm.tensor(rng.standard_normal((4, 3)), requires_grad=True)
        w = lm.tensor(rng.standard_normal((2, 3)), requires_grad=True)
        b = lm.tensor(rng.standard_normal(2), requires_grad=True)
        lm.functional.linear(x, w, b).sum().backward()
        grads = [x.grad._data, w.grad._data, b.grad._data]
        assert not any(np.shares_memory(a, c) for i, a in enumerate(grads)
                       for c in grads[i + 1:])
        np.testing.assert_allclose(w.grad._data, np.tile(x._data.sum(axis=0), (2, 1)))
        np.testing.assert_allclose(b.grad._data, [4, 4])
        np.testing.assert_allclose(x.grad._data, np.tile(w._data.sum(axis=0), (4, 1)))

    def test_nodes_run_after_all_their_consumers(self):
        """Backward order follows creation order: a node made early but used late still
        receives every gradient before its own backward runs."""
        x = lm.tensor([2.0], dtype="float64", requires_grad=True)
        early = x * 3
        middle = x.exp()
        late = middle * early + early * early
        late.sum().backward()
        np.testing.assert_allclose(x.grad._data, 3 * np.exp(2) + np.exp(2) * 6 + 2 * 6 * 3)

    def test_a_gradient_of_another_dtype_is_cast_to_the_leaf_dtype(self):
        w = lm.tensor([1.0, 2.0], requires_grad=True)
        (w.double() * 2).sum().backward()
        (w.double() * 3).sum().backward()
        assert w.grad.dtype == np.float32
        np.testing.assert_array_equal(w.grad._data, [5, 5])

    def test_broadcasting_gradients_are_reduced(self):
        a = lm.tensor(np.ones((2, 3)), requires_grad=True)
        b = lm.tensor(np.ones((3,)), requires_grad=True)
        c = lm.tensor(np.ones((2, 1)), requires_grad=True)
        (a * b + c).sum().backward()
        assert b.grad.shape == (3,) and c.grad.shape == (2, 1)
        np.testing.assert_allclose(b.grad._data, [2, 2, 2])
        np.testing.assert_allclose(c.grad._data, [[3], [3]])

    def test_reflected_operators(self):
        x = lm.tensor(np.array([1.0, 2.0]), requires_grad=True)
        y = (1 - x) + (2 / x) + (3 * x) + (2 ** x) + (1 + x)
        y.sum().backward()
        expected = -1 - 2 / x._data**2 + 3 + np.log(2) * 2**x._data + 1
        np.testing.assert_allclose(x.grad._data, expected)
        m = np.ones((3, 2)) @ x
        np.testing.assert_allclose(m._data, [3, 3, 3])

    def test_negation_and_power(self):
        x = lm.tensor(np.array([1.0, 2.0]), requires_grad=True)
        (-(x**3)).sum().backward()
        np.testing.assert_allclose(x.grad._data, -3 * x._data**2)


class TestGradMode:
    def test_no_grad_decorator_is_reentrant(self):
        @lm.no_grad()
        def depth(n):
            assert not lm.is_grad_enabled()
            return 0 if n == 0 else 1 + depth(n - 1)

        assert depth(3) == 3
        assert lm.is_grad_enabled()

    def test_no_grad(self):
        x = lm.tensor([1.0], requires_grad=True)
        with lm.no_grad():
            y = x * 2
            assert not lm.is_grad_enabled()
        assert lm.is_grad_enabled()
        assert not y.requires_grad and y.is_leaf

    def test_enable_grad_inside_no_grad(self):
        x = lm.tensor([1.0], requires_grad=True)
        with lm.no_grad():
            with lm.enable_grad():
                y = x * 2
            z = x * 2
        assert y.requires_grad and not z.requires_grad

    def test_no_grad_as_decorator_and_restored_after_error(self):
        @lm.no_grad()
        def f(x):
            return x * 2

        assert not f(lm.tensor([1.0], requires_grad=True)).requires_grad
        with pytest.raises(ZeroDivisionError), lm.no_grad():
            raise ZeroDivisionError
        assert lm.is_grad_enabled()


# ----------------------------------------------------------------------------- dtypes in the graph
class TestNoSilentUpcast:
    @pytest.mark.parametrize("scalar", [2.0, 2, np.float64(2.0), np.float32(2.0), np.int64(2),
                                        np.array(2.0)])
    def test_scalars_keep_float32(self, scalar):
        x = lm.tensor([1.0, 2.0], requires_grad=True)
        for y in [x * scalar, scalar * x, x + scalar, scalar + x, x - scalar, scalar - x,
                  x / scalar, scalar / x, x**scalar, maximum(x, scalar)]:
            assert y.dtype == np.float32, y
            y.sum().backward()
            assert x.grad.dtype == np.float32

    def test_integer_operands_promote_as_in_pytorch(self, torch):
        ints, floats = [1, 2], [1.0, 2.0]
        i, f = lm.tensor(ints), lm.tensor(floats, requires_grad=True)
        ti, tf = torch.tensor(ints), torch.tensor(floats)
        pairs = [(f * i, tf * ti), (i * f, ti * tf), (i * 0.5, ti * 0.5), (0.5 * i, 0.5 * ti),
                 (i / 2, ti / 2), (2 / i, 2 / ti), (i / i, ti / ti), (i + 1, ti + 1),
                 (i**2, ti**2), (i**0.5, ti**0.5), (f * (i == 1), tf * (ti == 1)),
                 (f + np.arange(2), tf + torch.arange(2)), (np.float64(2) * i, 2.0 * ti),
                 (maximum(i, f), torch.maximum(ti, tf)), (f @ i.float(), tf @ ti.float())]
        for ours, theirs in pairs:
            assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), (ours, theirs)
            np.testing.assert_allclose(ours._data, theirs.numpy(), rtol=1e-6)
        (f * i).sum().backward()
        assert f.grad.dtype == np.float32

    def test_float32_model_output_loss_and_grads_stay_float32(self, rng):
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        x = lm.tensor(rng.standard_normal((5, 4)).astype(np.float32))
        out = model(x) * np.float64(0.5) + 1.0
        assert out.dtype == np.float32
        for loss in [nn.CrossEntropyLoss()(out, np.array([0, 1, 2, 0, 1])),
                     nn.CrossEntropyLoss(weight=np.ones(3))(out, rng.random((5, 3))),
                     nn.MSELoss()(out, rng.standard_normal((5, 3))),
                     nn.L1Loss()(out, np.zeros((5, 3), dtype=np.int64)),
                     nn.BCEWithLogitsLoss(pos_weight=np.full(3, 2.0))(out, rng.random((5, 3)))]:
            total = loss + np.float64(1e-3) * nn.l2_penalty(model) + 0.5 * nn.l1_penalty(model)
            assert loss.dtype == np.float32 and total.dtype == np.float32
            model.zero_grad()
            total.backward()
            for name, p in model.named_parameters():
                assert p.grad.dtype == np.float32, name

    def test_float64_stays_float64(self):
        x = lm.tensor(np.ones(3), requires_grad=True)
        y = (x * 2.0).exp().sum()
        assert y.dtype == np.float64
        y.backward()
        assert x.grad.dtype == np.float64

    def test_astype_casts_gradient_back(self):
        x = lm.tensor([1.0, 2.0], requires_grad=True)
        y = x.double()
        assert y.dtype == np.float64
        (y * y).sum().backward()
        assert x.grad.dtype == np.float32
        np.testing.assert_allclose(x.grad._data, [2.0, 4.0])
        assert x.float() is x
        assert x.to("cpu") is x
        assert x.to("float64").dtype == np.float64


# ----------------------------------------------------------------------------- methods
class TestReductions:
    def test_dim_keepdim_and_axis_keepdims(self, rng):
        data = rng.standard_normal((2, 3, 4))
        t = lm.tensor(data)
        for method in ["sum", "mean", "max", "min"]:
            np_fn = getattr(np, method)
            a = getattr(t, method)(dim=1, keepdim=True)
            b = getattr(t, method)(axis=1, keepdims=True)
            c = getattr(t, method)(1, True)
            if method in ("max", "min"):  # torch: an int dim gives (values, indices)
                a, c = a.values, c.values
            for r in (a, b, c):
                np.testing.assert_allclose(r._data, np_fn(data, axis=1, keepdims=True))
            np.testing.assert_allclose(getattr(t, method)(dim=(0, 2))._data,
                                       np_fn(data, axis=(0, 2)))
            np.testing.assert_allclose(getattr(t, method)(dim=[0, 2])._data,
                                       np_fn(data, axis=(0, 2)))
            np.testing.assert_allclose(getattr(t, method)()._data, np_fn(data))

    def test_max_ties_share_the_gradient(self, torch):
        x = lm.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]), requires_grad=True)
        x.amax(dim=1).sum().backward()
        tx = torch.tensor(x.numpy(), requires_grad=True)
        tx.amax(dim=1).sum().backward()
        np.testing.assert_allclose(x.grad._data, tx.grad.numpy())

    def test_var_argmax_argmin(self, rng):
        data = rng.standard_normal((4, 5))
        t = lm.tensor(data)
        np.testing.assert_allclose(t.var(dim=0)._data, data.var(axis=0, ddof=1))
        np.testing.assert_allclose(t.var(unbiased=False)._data, data.var())
        np.testing.assert_array_equal(t.argmax(dim=1)._data, data.argmax(axis=1))
        np.testing.assert_array_equal(t.argmin(axis=0)._data, data.argmin(axis=0))


class TestShapeMethods:
    def test_reshape_view_flatten_transpose_permute(self):
        t = lm.arange(24).reshape(2, 3, 4)
        assert t.view(6, 4).shape == (6, 4)
        assert t.reshape((4, -1)).shape == (4, 6)
        assert t.flatten().shape == (24,)
        assert t.flatten(1).shape == (2, 12)
        assert t.transpose(0, 2).shape == (4, 3, 2)
        assert t.transpose(-1, -2).shape == (2, 4, 3)
        assert t.permute(2, 0, 1).shape == (4, 2, 3)
        assert t.permute((1, 2, 0)).shape == (3, 4, 2)
        assert t.T.shape == (4, 3, 2)
        assert t.unsqueeze(0).shape == (1, 2, 3, 4)
        assert t.unsqueeze(0).squeeze().shape == (2, 3, 4)

    def test_shape_method_gradients(self, rng):
        x = lm.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
        g = rng.standard_normal((4, 2, 3))
        x.permute(-1, 0, 1).backward(g)
        np.testing.assert_allclose(x.grad._data, np.transpose(g, (1, 2, 0)))

    def test_cat_and_stack(self):
        a = lm.tensor([[1.0, 2.0]], requires_grad=True)
        b = lm.tensor([[3.0, 4.0]], requires_grad=True)
        assert lm.cat([a, b], dim=0).shape == (2, 2)
        s = lm.stack([a, b], dim=1)
        assert s.shape == (1, 2, 2)
        (s * lm.tensor([[[1.0, 2.0], [3.0, 4.0]]])).sum().backward()
        np.testing.assert_allclose(a.grad._data, [[1, 2]])
        np.testing.assert_allclose(b.grad._data, [[3, 4]])


class TestIndexing:
    def test_basic_and_fancy_indexing_with_gradient(self):
        x = lm.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
        y = x[1] .sum() + x[:, 1:3].sum() + x[[0, 0, 2]].sum() + x[lm.tensor([2])].sum()
        y.backward()
        expected = np.zeros((3, 4))
        expected[1] += 1
        expected[:, 1:3] += 1
        expected[0] += 2
        expected[2] += 2
        np.testing.assert_allclose(x.grad._data, expected)

    def test_boolean_mask(self):
        x = lm.tensor(np.array([-1.0, 2.0, -3.0, 4.0]), requires_grad=True)
        y = x[x > 0]
        np.testing.assert_allclose(y._data, [2.0, 4.0])
        (y * y).sum().backward()
        np.testing.assert_allclose(x.grad._data, [0, 4, 0, 8])

    def test_tuple_of_index_tensors(self):
        x = lm.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        y = x[lm.arange(2), lm.tensor([2, 2])]
        np.testing.assert_allclose(y._data, [2.0, 5.0])
        y.sum().backward()
        np.testing.assert_allclose(x.grad._data, [[0, 0, 1], [0, 0, 1]])

    def test_iteration(self):
        rows = list(lm.tensor([[1.0, 2.0], [3.0, 4.0]]))
        assert len(rows) == 2 and rows[1].tolist() == [3.0, 4.0]

    def test_setitem_on_tracked_tensor_is_refused(self):
        x = lm.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="in-place assignment"):
            x[0] = 5.0
        with lm.no_grad():
            x[0] = 5.0
        assert x._data[0] == 5.0


class TestInPlace:
    def test_sgd_style_update_under_no_grad_is_in_place(self):
        p = nn.Parameter(np.ones(3, np.float32))
        (p * p).sum().backward()
        before = p
        with lm.no_grad():
            p -= 0.1 * p.grad
            p *= 2
            p += np.float64(1.0)
            p /= 2
        assert p is before and p.dtype == np.float32
        np.testing.assert_allclose(p._data, ((1 - 0.2) * 2 + 1) / 2)

    def test_leaf_that_requires_grad_is_protected(self):
        p = lm.tensor([1.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="in-place add on a leaf"):
            p += 1

    def test_in_place_inside_graph_creates_a_node(self):
        x = lm.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y += x
        y.sum().backward()
        np.testing.assert_allclose(x.grad._data, [3.0, 3.0])
        acc = lm.zeros(())
        acc += (x * x).sum()
        assert acc.requires_grad

    def test_plain_tensor_in_place(self):
        t = lm.zeros(3)
        t += 1
        assert t._data.tolist() == [1.0, 1.0, 1.0] and t.dtype == np.float32


class TestMathMethods:
    def test_elementwise_methods(self, rng):
        data = rng.uniform(0.5, 2.0, (3, 4))
        t = lm.tensor(data)
        np.testing.assert_allclose(t.exp()._data, np.exp(data))
        np.testing.assert_allclose(t.log()._data, np.log(data))
        np.testing.assert_allclose(t.sqrt()._data, np.sqrt(data))
        np.testing.assert_allclose((-t).abs()._data, data)
        np.testing.assert_allclose(abs(-t)._data, data)
        np.testing.assert_allclose(t.clip(0.7, 1.5)._data, np.clip(data, 0.7, 1.5))
        np.testing.assert_allclose(t.clamp(min=1.0)._data, np.maximum(data, 1.0))
        np.testing.assert_allclose(t.relu()._data, data)
        np.testing.assert_allclose(t.tanh()._data, np.tanh(data))
        np.testing.assert_allclose(t.sigmoid()._data, 1 / (1 + np.exp(-data)))
        sm = np.exp(data) / np.exp(data).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(t.softmax(dim=1)._data, sm)
        np.testing.assert_allclose(t.log_softmax(-1)._data, np.log(sm))
        np.testing.assert_allclose(where(t > 1, t, 0.0)._data, np.where(data > 1, data, 0))


# ----------------------------------------------------------------------------- errors
def test_matmul_shape_mismatch():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\).*\(3\).*\(4\)"):
        lm.ones(2, 3) @ lm.ones(4, 5)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        lm.ones(()) @ lm.ones(3)


# ----------------------------------------------------------------------------- seeding
def test_manual_seed_reproduces_randn_and_model_init():
    lm.manual_seed(7)
    a, m1 = lm.randn(4, 3), nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    lm.manual_seed(7)
    b, m2 = lm.randn(4, 3), nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    np.testing.assert_array_equal(a._data, b._data)
    for (k1, v1), (k2, v2) in zip(m1.state_dict().items(), m2.state_dict().items(), strict=True):
        assert k1 == k2
        np.testing.assert_array_equal(v1, v2)
    lm.manual_seed(8)
    assert not np.array_equal(lm.randn(4, 3)._data, a._data)
    with pytest.raises(TypeError, match="int seed"):
        lm.manual_seed(1.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 7), (2, 3, 5, 5)])
def test_aligned_empty_starts_a_cache_line(shape, dtype):
    """aligned_empty: the shape and dtype asked for, C-contiguous, writable, its first element
    on a 64-byte boundary; the parameters of Linear and Conv2d live in such arrays."""
    from lamina.tensor import aligned_empty

    for _ in range(4):  # several allocations: NumPy's own start at various offsets
        a = aligned_empty(shape, dtype)
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
        assert a.size == 0 or a.ctypes.data % 64 == 0  # (no element, no address to align)
        a[...] = 1
        assert (a == 1).all()
    layers = [lm.nn.Linear(7, 5), lm.nn.Conv2d(3, 2, 3)]
    assert all(p._data.ctypes.data % 64 == 0 for layer in layers for p in layer.parameters())


def test_data_is_a_tensor_sharing_memory_outside_the_graph():
    w = lm.tensor([1.0, 2.0], requires_grad=True)
    d = w.data
    assert isinstance(d, lm.Tensor) and not d.requires_grad
    assert np.shares_memory(d.numpy(), w.numpy())
    d[0] = 5.0  # not tracked: allowed although w requires grad
    assert w.numpy()[0] == 5.0
    w.data = lm.tensor([7.0, 8.0])
    np.testing.assert_array_equal(w.numpy(), [7.0, 8.0])
    assert w.requires_grad


def test_in_place_changes_bump_the_version():
    t = lm.tensor([1.0, 2.0])
    start = t._version
    t += 1
    t[0] = 3.0
    t.data = np.zeros(2, np.float32)
    assert t._version == start + 3


def test_grad_mode_is_per_thread():
    import threading

    seen = []
    inside, release = threading.Event(), threading.Event()

    def other():
        inside.wait(5)
        seen.append(lm.is_grad_enabled())
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    with lm.no_grad():
        inside.set()
        release.wait(5)
        assert not lm.is_grad_enabled()
    thread.join(5)
    assert seen == [True]
    assert lm.is_grad_enabled()
