"""Every size threshold that picks between two implementations of the same computation.

The ops, the kernel registry (:mod:`lamina.kernels.registry`), the inference plan
(:mod:`lamina.inference`) and the optimizers read these names here, at call time (tests may
monkeypatch them on this module). Each one says what it decides and the measurement that
chose it, with the commit that made it; "no recorded measurement" means that the commit gave
none. Times are from the bench machine of that day (2 vCPUs, OpenBLAS), A/B in one process.
None of them changes a result beyond rounding: both sides of every threshold compute the same
function (the tests run both).
"""

from __future__ import annotations

# ------------------------------------------------------------------ convolution (ops/conv.py)

# A convolution whose weight matrix has at most this many entries (C_out x C_in*kh*kw) runs
# forward and weight gradient in the compiled kernels without an im2col matrix
# (``small_conv_*``, ``weight_grad``; [fast] only). 142d738, a27f180 (2026-11-25): LeNet-5's
# conv1 (6 x 25) weight gradient 3.6x faster than BLAS at batch 32; conv2 (16 x 150 = 2400)
# stays on BLAS, where the GEMM has enough to tile.
SMALL_WEIGHT_GRAD = 512

# A convolution (horizontal stride 1) whose weight matrix has at most this many entries runs
# forward (with its bias, or fused with a 2 x 2 max-pool, bias and ReLU) and weight gradient
# in the direct compiled kernels ``small_conv_*``, with no im2col matrix at all ([fast]
# only). lenet3 branch (2026-12-07, 1 thread, process CPU time, float32, median of 7 x 20
# calls, forward + weight gradient, im2col + BLAS / direct, busy machine): LeNet-5's conv2
# (6 -> 16, 5 x 5, 14 x 14) at N=32 0.94-1.14x (forward alone 272 -> 197 us, gradient 286
# -> 240 us), N=64 1.2-1.4x, N=128 1.62x; 4 -> 16 5 x 5 1.09x / 1.57x (N=32 / 128);
# 8 -> 16 3 x 3 1.18x / 2.04x; 16 -> 16 3 x 3 1.09x / 1.82x; past it 16 -> 32 3 x 3 (4608)
# 0.81x / 1.02x and 6 -> 32 5 x 5 (4800) 0.96x / 1.26x. Besides, the training step keeps no
# im2col matrix (LeNet-5 b32: 1.9 MiB less at the step's peak, bench/memory.py).
SMALL_CONV_WEIGHTS = 2400

# The weight gradient g @ col^T of an im2col matrix with at least this many times more rows
# than g is computed as (col @ g^T)^T. a4de012 (2026-11-25): LeNet-5's conv2 at batch 32
# 196 us against 228 us for g @ col^T and 264 us over 512 KiB pieces of M.
TALL_COL = 8

# Otherwise g @ col^T is summed over pieces of M of this many columns. c002c0d (2026-12-03):
# OpenBLAS is 4x slower on one product with a long M and a small result; LeNet-5's conv1
# without [fast] (6 x 25 over M = 25,088 at batch 32) 386 us in one call, 90 us in pieces
# of 4,096 (batch 128: 1,635 -> 347 us); pieces of 8,192 are as slow as one call.
WEIGHT_CHUNK = 4096

# Inference on at most this many images convolves directly in one compiled call
# (``conv_relu_max_pool_direct``) rather than by im2col and BLAS. d80f4bb (2026-11-25),
# batch-1 latency; no recorded measurement of the crossing point beyond "1 and 2 images
# faster" (the kernel is serial, BLAS uses both threads from a few images on).
DIRECT_MAX_BATCH = 2

# A 3 x 3 stride-1 convolution runs by Winograd F(4x4, 3x3) (ops/winograd.py) when
# C_in * C_out / (C_in + C_out) >= WINOGRAD_MIN_CHANNELS and N * H_out * W_out >=
# WINOGRAD_MIN_OUTPUTS. 2026-12-07 (1 thread, CPU time, min of 3-50 calls, float32, padding 1,
# /tmp sweep over C_in x C_out in 1x32 .. 32x64, N in 1..64, 28x28 and 14x14), im2col time
# over Winograd time, forward + backward / forward only, compiled kernels:
#   28x28: 32x64 N=16 2.03/1.66, N=64 2.12/1.92; 16x32 N=16 1.58/0.94, N=64 1.77/1.65;
#          16x16 (ratio 8) N=16 1.14/0.98; 8x16 N=64 1.70/1.36 but N=8 0.64/0.58;
#   14x14: 32x64 N=64 1.39/1.13, N=16 0.99/0.81; 16x32 N=64 1.15/0.80; 16x16 N=64 0.87/0.95;
#   N=1: 0.1-0.36 everywhere (the transforms vectorise over the batch);
# the NumPy path alike (28x28 32x64 N=16 1.55/1.34; 14x14 32x64 N=64 1.35/1.06, N=16
# 1.14/0.79; 16x16 N=64 1.02/0.75). 10 and 12,000 take 28x28 from N=16 and 14x14 from N=64
# with 16 or more channels on both sides (the MNIST example's conv2, 32x64 on 26x26, from
# N=21), where fewer channels or outputs lose.
WINOGRAD_MIN_CHANNELS = 10
WINOGRAD_MIN_OUTPUTS = 12000

# The Winograd path transforms the input and output tiles in blocks whose transformed arrays
# (36 x (C_in + C_out) x N numbers a tile) take about this many bytes: whole tile rows where
# one fits, else near-equal pieces of a row, at least one tile a block. 2026-12-07, the MNIST
# example's conv2 (32x64, 26x26, 6 x 6 tiles) forward + backward, 1 thread, CPU time: with the
# generic transforms one tile row a block (5.3 MB at N=64) 25-28 ms, two 32-35, three 34-37,
# all six 34-39 ms (N=128: 60-64, 66-71, 65-74, 73-82 ms); with the written-out transforms
# (numba_winograd.py), alternated rounds: pieces of a row against whole rows 1.04x at N=64
# (0.96-1.15) and 1.10x at N=128 (1.07-1.14, 80 against 88 ms); 1, 2 and 3 MiB within
# noise of each other (2 MiB / 1 MiB 1.02x and 0.99x, 3 MiB / 1 MiB 1.00x and 1.04x, N = 64
# and 128). 2 threads, wall clock, the example's Net line by line, whole training steps, 12
# alternated rounds (busy machine, load ~2): 3 MiB against 64 MiB (all rows one block)
# 1.20x at N=64 / 1.05x at N=128, against 6 MiB (whole rows at 64, 3 tiles at 128)
# 1.20x / 1.23x, against 1 MiB 1.06x / 1.00x (its smaller GEMMs stay on one BLAS thread:
# the second core's spinning worker no longer competes with the transforms). 3 MiB: half
# rows at N=64, single tiles at N=128.
WINOGRAD_BLOCK_BYTES = 3 << 20

# ------------------------------------------------------------------ im2col (ops/im2col.py)

# A stride-1 convolution whose im2col rows would be runs of fewer numbers than this
# (W_out * N: small batches) builds its matrix from whole padded rows (wide_im2col).
# d80f4bb (2026-11-25, batch-1 latency) and c5e068e (2026-12-03): LeNet-5 batch 1 without
# [fast] 47.3 -> 45.8 us with the one-image program that relies on it.
WIDE_RUN = 32

# An im2col matrix larger than this is built in blocks of output rows of about BLOCK_BYTES,
# each used by its GEMM while it is in cache and rebuilt in the backward pass instead of
# kept. 62352cc (2026-11-25): 10 MB for LeNet-5's first layer at batch 128 otherwise; no
# recorded measurement of the two sizes (1.5 MiB keeps a GEMM's operands in L2/L3).
FULL_COL_BYTES = 4 << 20
BLOCK_BYTES = 3 << 19

# Padding an array of fewer elements than this writes zeros everywhere then the interior
# (fewer NumPy calls); larger ones write each element once. 62352cc (2026-11-25); no
# recorded measurement.
PAD_FILL_BELOW = 1 << 16

# The input gradient of a convolution, col2im(W^T @ g), is made this many bytes of W^T @ g
# at a time (whole output rows; ops/conv.py, _conv_backward): the peak memory of a training
# step. 2026-12-07: LeNet-5 b32, conv2's 1.8 MiB of W^T @ g in one piece made lamina's step
# peak (RSS above the steady state, bench/memory.py) 4.6 MiB against PyTorch's 3.1; in
# pieces of 256 KiB 3.3 MiB, and the step 4-7% faster (LeNet-5 b32/b128, the pieces stay
# in L2). The NumPy col2im costs kh * kw ufunc calls a piece: there 256 KiB pieces made
# LeNet-5 b32 13% slower, so that path takes pieces of GRAD_COLS_BYTES_NUMPY.
GRAD_COLS_BYTES = 1 << 18
GRAD_COLS_BYTES_NUMPY = 1 << 20

# ------------------------------------------------------------------ window max (kernels)

# The compiled window max keeps the offset of each window's maximum in a uint8: windows of
# more than this many elements take the NumPy path (a limit of the index type, not a speed
# choice).
MAX_WINDOW_AREA = 256

# The compiled max-pool over any window (not 2 x 2) loops element by element below this
# batch and over whole output rows from it (numba_conv.max_pool_forward); the row loop
# vectorises over the batch, which needs a few lanes. No recorded measurement.
POOL_ROWS_FROM_BATCH = 8

# ------------------------------------------------------------------ ReLU (ops/activation.py)

# ReLU of an array of at least this many elements whose memory is dense (contiguous in some
# order of its axes, as the conv ops' transposed outputs) runs over its memory as one flat
# array: the compiled ``relu_forward``/``relu_backward``, or without them np.maximum against
# a fresh array of zeros; smaller ones use np.maximum(x, 0) and grad * (out > 0), whose
# per-call costs are lower. userfast branch (2026-12-07, NumPy 2.4.6, float32, one thread):
# LeNet-5's conv1 output at batch 32 (150,528 numbers) np.maximum(x, 0) 57-70 us,
# np.maximum(x, zeros) 22-28 us, the compiled loop 9 us; grad * (out > 0) 45 us, compiled
# ~10 us. No recorded measurement of the crossing point (4096: about 1.5 us of np.maximum
# against a scalar, the cost of the extra steps).
RELU_DENSE_FROM = 4096

# ReLU in place (the folded ReLU of F.relu(linear(...)) / F.relu(conv2d(...)),
# activation.relu_values) on a C-contiguous array of at least this many elements runs the
# compiled ``relu_in_place``: one select and one loop. lenet3 branch (2026-12-07, float32,
# wall clock, median of 9 x 3000 calls, busy machine: two runs, noisy), relu_values(x, x) by
# np.maximum(x, 0, out=x) against the compiled path: 32 x 4 2.4 -> 3.2 us; 32 x 8 2.7 ->
# 1.1 and 4.4 -> 3.2 us; 32 x 32 5.6 -> 2.4 us; 32 x 84 5.1 -> 1.3 and 5.0 -> 4.5 us;
# 32 x 120 5.5 -> 1.4 and 8.4 -> 4.7 us; 128 x 120 11.3 -> 3.0 and 7.0 -> 1.8 us (LeNet-5's
# fc1 and fc2 at batch 32 are 32 x 120 and 32 x 84).
RELU_IN_PLACE_FROM = 256

# ------------------------------------------------------------------ linear (ops/linalg.py)

# One or two rows (at most LINEAR_MAX_ROWS) through a weight matrix of at most SMALL_LINEAR
# entries take one compiled call for product, bias and ReLU (``linear_rows``,
# ``linear_chain``; [fast] only). b9cbefc, f1efae8 (2026-11-25): 1 MiB of float32 takes the
# MLP's 784 x 256 layer; the serial kernel beats the two-thread BLAS call in a whole batch-1
# pass, MLP batch 1 12% faster with the chain.
SMALL_LINEAR = 1 << 18
LINEAR_MAX_ROWS = 2

# The GEMM of a linear layer, x @ W.T, in the form OpenBLAS runs fastest
# (ops/linalg.py, _product; both kernel paths). Measured 2026-12-07, OpenBLAS 1 thread,
# CPU time, best of 7 (AMD EPYC Zen 4, /tmp/nt4.py in the commit message's terms):
# - 2..64 rows through a layer of at least LINEAR_TRANSPOSED_MIN_OUT outputs: the product
#   as (W @ x.T).T copied to C order. 16 x 784 -> 256: 191 -> 100 us; 32 rows: 219 -> 153;
#   64 rows: 337 -> 289; 32 x 400 -> 120: 55 -> 40; 2 x 9216 -> 128: 762 -> 240; at 128
#   rows it is even (584 vs 561) and at 256 slower (1079 vs 1136), at 84 outputs a loss.
# - LINEAR_NARROW_MIN_ROWS rows or more into at most LINEAR_NARROW_MAX_OUT outputs: x times
#   a C-contiguous copy of W.T. 128 x 256 -> 10: 15.4 -> 11.8 us; 256 rows: 27.8 -> 21.0;
#   512 x 128 -> 10: 27.9 -> 20.3.
LINEAR_TRANSPOSED_MAX_ROWS = 64
LINEAR_TRANSPOSED_MIN_OUT = 96
LINEAR_NARROW_MIN_ROWS = 128
LINEAR_NARROW_MAX_OUT = 16

# The most layers one linear_chain op takes (nn.Sequential splits a longer run of Linear
# layers): its backward's version checks name each weight's input position, up to this
# many. Not a speed threshold: no measured run of Linear layers comes near it.
LINEAR_CHAIN_MAX_LAYERS = 64

# The one-pass compiled bias + ReLU of a linear layer's output and the ReLU gradient
# (``bias_relu``, ``relu_grad``; [fast] only) from this many entries; smaller arrays keep
# the NumPy steps (a compiled call and its check cost about a microsecond). 2026-12-07:
# 128 x 256 float32, bias + ReLU 19 -> 3 us, grad * (out > 0) 11 -> 3 us; 32 x 256: 6 -> 0.7.
ELEMENTWISE_KERNEL_FROM = 2048

# ------------------------------------------------------------------ inference plan

# Programs a fused conv block of the no-grad plan keeps, for as many input shapes (a last,
# smaller batch, or requests of a few sizes when serving). c45be72 (2026-12-03): batch-1
# A/B 1.005-1.008x against one program; 4 covers a training run's last batch and served
# sizes without rebuilding at every change.
KEPT_PROGRAMS = 4

# ------------------------------------------------------------------ optimizers (optim/adam.py)

# With the compiled Adam kernel, a group whose parameters average fewer elements than this
# has its gradients gathered into one array and updated in one call; larger ones are
# updated where they lie, one call each. a27f180 (2026-11-25): LeNet-5 (10 parameters, 62k
# elements) gathers; no recorded measurement of the crossing point.
GATHER_BELOW = 16384

# ------------------------------------------------------------------ batch norm (ops/norm.py)

# Batch normalisation runs its compiled kernels (bn_stats, ...; [fast] only) on an (N', C, L)
# view whose runs along L have at least this many numbers; below, NumPy's reductions over
# axis 0 are faster. normrnn (2026-12-07), forward + backward of the op, float32, C = 64,
# 1 thread: (512, 64, 1) 238 us compiled vs 137 us NumPy; (512, 64, 2) 368 vs 2,803;
# (256, 64, 4) 326 vs 1,602; (16, 64, 64) 77 vs 292.
BN_MIN_RUN = 2

# The fused BatchNorm2d -> ReLU -> MaxPool2d(2) kernels (bn_relu_pool_forward/backward of
# numba_norm.py) run half of the channels in lamina.kernels.worker's thread where
# min(lamina.get_num_threads(), BN_POOL_THREADS) is 2 (bitwise the same); 1: serial, in
# the calling thread. Off: no wall clock could decide it on the shared 2-core machine
# (bnlstm, 2026-12-07: CPU time of the BatchNorm CNN step unchanged without torch in the
# process; Numba's own parallel=True threads instead cost 78 ms of CPU a step, not 9, once
# torch was imported). ``python -m bench.layers --threads-ab`` times it against the default.
BN_POOL_THREADS = 1

# The LSTM's backward pass (lamina.ops.recurrent.lstm_sequence) computes its all-steps
# products (dW = da^T [x h_prev], dx = da W_ih) in blocks of this many time steps, each
# block in a second thread as soon as the time loop has passed it, with the BLAS on one
# thread meanwhile (where lamina has 2+ threads and threadpoolctl can set the BLAS's); 0:
# one product of all steps after the loop, in the BLAS's threads. Off: on the shared
# 2-core machine wall clocks could not decide it; 1-thread CPU time (bnlstm, 2026-12-07,
# T=50, B=32, H=128): the loop alone 3.4-4.3 ms of 6.1-7.1 ms, so on two free cores the
# backward pass would take about max(loop, products) instead of their sum.
LSTM_OVERLAP_STEPS = 0

# The Winograd transforms split their channels over min(lamina.get_num_threads(),
# WINOGRAD_TRANSFORM_THREADS) threads (Numba's, ``_threads`` kernels of numba_winograd.py;
# bitwise the same results). 1: serial, in the calling thread. 2026-12-07, 2 cores, MNIST
# example's conv2 at batch 64, per call of one tile row, median of 40, wall clock, the
# transforms alone: 2 threads 1.4-1.9x faster (input 0.198 -> 0.138 ms, output 0.307 ->
# 0.202, output grad 0.288 -> 0.153, input grad 0.312 -> 0.167). But in a training step (the
# example's Net, BLAS on 2 threads, 8 x 5 steps alternated, medians) no gain: 38.3 ms against
# 37.3 serial; with torch imported 42.2 / 42.2 (OMP_WAIT_POLICY=PASSIVE) and 143 / 41 ms
# with GNU OpenMP's default spinning (torch's libgomp, shared by Numba, is initialised by
# torch); Numba's workqueue layer 57.5 / 53.6. OpenBLAS's idle threads poll between the
# GEMMs and keep the second core: the threaded transforms gained only with
# OPENBLAS_THREAD_TIMEOUT=4 (39.2 against 43.2 ms), which slows the serial run's GEMMs
# (37 -> 43 ms). So serial by default; raise it on machines with more cores to measure.
WINOGRAD_TRANSFORM_THREADS = 1
