"""Convolution as the notes define it (notes section 6.1, eq 6.1-6.4) against lamina's conv2d.

Claim: lamina's ``conv2d`` is a cross-correlation (as in every deep-learning framework); fed the
kernel flipped along each axis and padded by ``k - 1``, it computes exactly the notes'
convolution sums, 1-D (eq 6.3) and 2-D (eq 6.4); without the flip it differs for any kernel that
is not symmetric; and the discrete sum times the grid step approximates the continuous
convolution integral (eq 6.1), the error falling in proportion to the step ``h``.

Set-up.

* Eq 6.3: random ``x`` (length 20) and ``w`` (length 5), float64. The notes' sum
  ``s(t) = sum_a x(a) w(t - a)`` for every ``t`` where it has terms (the "full" convolution,
  length 24) is computed with explicit loops, and with ``lm.functional.conv2d`` on the signal
  as a 1 x 20 image, the flipped kernel as a 1 x 5 kernel, padding ``(0, 4)``.
* Eq 6.4: a random 8 x 9 image ``I`` and a 3 x 4 kernel ``K``; ``S(i, j) = sum_m sum_n
  I(m, n) K(i - m, j - n)`` with loops against conv2d with ``K`` flipped and padding ``(2, 3)``.
* Eq 6.1: ``x(a) = exp(-a)`` and ``w(a) = exp(-2a)`` for ``a >= 0`` (0 before): their
  convolution is ``s(t) = exp(-t) - exp(-2t)``. The functions are sampled on ``[0, 12]`` with
  step ``h`` (0.2, 0.1, 0.05) and the discrete convolution (conv2d, as above) times ``h`` is
  compared with the exact ``s(t)`` at the grid points. The functions jump at 0, so the sum (a
  Riemann sum of the integral) is first-order accurate: the error halves with ``h``. (Smooth,
  fast-decaying functions such as Gaussians converge much faster: the error reaches rounding
  level at ``h = 0.2``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.experiments import common

NAME = "convolution"
CLAIM = ("conv2d with a flipped kernel computes the notes' convolution sums exactly (eq 6.3, "
         "6.4); the discrete sum times h approximates the integral (eq 6.1), error O(h)")

STEPS = (0.2, 0.1, 0.05)
SPAN = 12.0


@dataclass(frozen=True)
class Settings:
    trials: int


SETTINGS = {"tiny": Settings(3), "quick": Settings(20), "full": Settings(100)}


def notes_convolution_1d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Eq 6.3 by its definition: ``s(t) = sum_a x(a) w(t - a)``, ``t = 0 .. len(x)+len(w)-2``."""
    s = np.zeros(len(x) + len(w) - 1)
    for t in range(len(s)):
        for a in range(len(x)):
            if 0 <= t - a < len(w):
                s[t] += x[a] * w[t - a]
    return s


def notes_convolution_2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Eq 6.4 by its definition: ``S(i, j) = sum_m sum_n I(m, n) K(i - m, j - n)``."""
    (h, w), (kh, kw) = image.shape, kernel.shape
    out = np.zeros((h + kh - 1, w + kw - 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for m in range(h):
                for n in range(w):
                    if 0 <= i - m < kh and 0 <= j - n < kw:
                        out[i, j] += image[m, n] * kernel[i - m, j - n]
    return out


def lamina_convolution_2d(image: np.ndarray, kernel: np.ndarray, flip: bool = True) -> np.ndarray:
    """The full 2-D convolution through ``lm.functional.conv2d`` (a cross-correlation): the
    kernel flipped along both axes (``flip=False`` is the broken variant) and padded by
    ``k - 1`` on each side."""
    import lamina as lm
    from lamina import functional as F

    k = kernel[::-1, ::-1] if flip else kernel
    kh, kw = kernel.shape
    out = F.conv2d(lm.tensor(image[None, None]), lm.tensor(np.ascontiguousarray(k)[None, None]),
                   padding=(kh - 1, kw - 1))
    return out.numpy()[0, 0]


def lamina_convolution_1d(x: np.ndarray, w: np.ndarray, flip: bool = True) -> np.ndarray:
    """The full 1-D convolution: the signal as a 1 x n image."""
    return lamina_convolution_2d(x[None, :], w[None, :], flip)[0]


def decay(t: np.ndarray, rate: float) -> np.ndarray:
    """``exp(-rate t)`` for ``t >= 0``, 0 before."""
    return np.where(t >= 0, np.exp(-rate * np.maximum(t, 0.0)), 0.0)


def exact_integral(t: np.ndarray) -> np.ndarray:
    """Eq 6.1 for ``x = decay(., 1)`` and ``w = decay(., 2)``: ``exp(-t) - exp(-2t)``."""
    return decay(t, 1.0) - decay(t, 2.0)


def integral_error(h: float, flip: bool = True) -> float:
    """Max error of ``h * (x * w)`` on the grid ``[0, SPAN]`` against the exact ``s(t)``."""
    grid = h * np.arange(int(round(SPAN / h)) + 1)
    s = h * lamina_convolution_1d(decay(grid, 1.0), decay(grid, 2.0), flip)[:len(grid)]
    return float(np.max(np.abs(s - exact_integral(grid))))


def discrete_errors(trials: int, rng: np.random.Generator, flip: bool = True) -> dict[str, float]:
    """Largest |lamina - notes| over ``trials`` random 1-D and 2-D problems."""
    one = two = 0.0
    for _ in range(trials):
        x, w = rng.normal(size=20), rng.normal(size=5)
        one = max(one, float(np.max(np.abs(lamina_convolution_1d(x, w, flip)
                                           - notes_convolution_1d(x, w)))))
        image, kernel = rng.normal(size=(8, 9)), rng.normal(size=(3, 4))
        two = max(two, float(np.max(np.abs(lamina_convolution_2d(image, kernel, flip)
                                           - notes_convolution_2d(image, kernel)))))
    return {"1d": one, "2d": two}


def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """Compare lamina's conv2d with the notes' convolution, discrete and continuous.

    Args:
        quick: the ``--quick`` size.
        out: directory for ``convolution.png``, or None for no plot.
        seed: seeds the random signals and kernels.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.
    """
    timer = common.Timer()
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    rng = common.seed_all(seed)
    with common.progress_bar(3, NAME, progress) as bar:
        flipped = discrete_errors(s.trials, rng)
        bar.update(1)
        unflipped = discrete_errors(s.trials, rng, flip=False)
        bar.update(1)
        integral = [integral_error(h) for h in STEPS]
        bar.update(1)
    orders = [float(np.log2(a / b)) for a, b in zip(integral, integral[1:], strict=False)]
    numbers = {
        "max_error_flipped": flipped,
        "max_error_without_flip": unflipped,
        "integral_steps_h": list(STEPS),
        "integral_max_error": integral,
        "integral_error_order": orders,
    }
    checks = {
        "eq 6.3: conv2d with the flipped kernel equals the 1-D sum (max error < 1e-12)":
            flipped["1d"] < 1e-12,
        "eq 6.4: conv2d with the flipped kernel equals the 2-D sum (max error < 1e-12)":
            flipped["2d"] < 1e-12,
        "without the flip (cross-correlation) the results differ (error > 0.1)":
            min(unflipped.values()) > 0.1,
        "eq 6.1: h times the discrete sum approaches the integral, error O(h) (order 0.9-1.1)":
            all(0.9 < order < 1.1 for order in orders),
    }
    conclusion = (
        f"with the kernel flipped, conv2d matched the notes' sums to {flipped['1d']:.1e} (1-D, "
        f"eq 6.3) and {flipped['2d']:.1e} (2-D, eq 6.4); without the flip it was off by up to "
        f"{unflipped['2d']:.3g}: lamina's conv2d is a cross-correlation. The discrete sum times "
        f"h approximated the integral (eq 6.1) with errors "
        + ", ".join(f"{e:.2e} (h={h})" for h, e in zip(STEPS, integral, strict=True))
        + f": order {min(orders):.2f}-{max(orders):.2f} in h."
    )
    plot = common.save_figure(out_dir, f"{NAME}.png", lambda fig, axes: _draw(axes), ncols=2,
                              figsize=(11.0, 4.0), title="Convolution (eq 6.1-6.4)")
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, [plot], size, timer, out_dir)


def _draw(axes: np.ndarray) -> None:
    h = 0.1
    grid = h * np.arange(int(round(SPAN / h)) + 1)
    s = h * lamina_convolution_1d(decay(grid, 1.0), decay(grid, 2.0))[:len(grid)]
    ax = axes[0, 0]
    ax.plot(grid, decay(grid, 1.0), label="x(a) = exp(-a)")
    ax.plot(grid, decay(grid, 2.0), label="w(a) = exp(-2a)")
    ax.plot(grid, s, "o", markersize=2, label="h * conv2d(x, flipped w), h = 0.1")
    ax.plot(grid, exact_integral(grid), label="exact s(t) (eq 6.1)")
    ax.set_xlim(0, 6)
    ax.set_xlabel("t")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    errors = [integral_error(step) for step in STEPS]
    ax.loglog(STEPS, errors, "o-", label="max |h (x*w) - s|")
    ax.loglog(STEPS, errors[0] * np.array(STEPS) / STEPS[0], "--", color="gray", label="h")
    ax.set_xlabel("grid step h")
    ax.set_ylabel("error")
    ax.legend()
