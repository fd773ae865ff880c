"""Data-parallel training written as a PyTorch DistributedDataParallel script.

    mpiexec -n 2 python examples/ddp_mnist.py            # 2 processes on this machine
    mpiexec -n 2 python -m mpi4py examples/ddp_mnist.py  # same, and sys.exit(1) on a rank ends all

Each process reads its share of every epoch (DistributedSampler), computes the gradients of
its share, and DistributedDataParallel averages them after backward, so every copy of LeNet-5
takes the same step: the training of one process with batches of 2 x 32 images. Rank 0 prints
and saves the model.
"""

import numpy as np

import lamina as lm
import lamina.distributed as dist
from lamina.data import DataLoader, DistributedSampler, TensorDataset
from lamina.nn.parallel import DistributedDataParallel

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()

lm.manual_seed(0)
(x, y), (x_test, y_test) = lm.datasets.mnist(subset="small")
x = (x[:, None] / np.float32(255) - 0.1307) / 0.3081
x_test = (x_test[:, None] / np.float32(255) - 0.1307) / 0.3081
train_set = TensorDataset(x, y)
sampler = DistributedSampler(train_set, shuffle=True, seed=0)

model = DistributedDataParallel(lm.models.lenet5())
optimizer = lm.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = lm.nn.CrossEntropyLoss()
for epoch in range(2):
    sampler.set_epoch(epoch)
    # this rank's share of the epoch, in batches of 32 (64 over the two ranks)
    for xb, yb in DataLoader(train_set, batch_size=32, sampler=sampler):
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()  # ends with the gradients averaged over the ranks
        optimizer.step()
    loss_sum = lm.tensor([float(loss.item())], dtype="float64")
    dist.all_reduce(loss_sum, op=dist.ReduceOp.AVG)
    if rank == 0:
        print(f"epoch {epoch + 1}: last batch loss {loss_sum.item():.4f} (mean over "
              f"{world} ranks)")

if rank == 0:
    model.eval()
    with lm.no_grad():
        predicted = model.module(lm.tensor(x_test)).argmax(1).numpy()
    print(f"test accuracy: {100 * np.mean(predicted == y_test):.2f}%")
    lm.save(model.module, "ddp_lenet5.safetensors")  # the bare model: keys without "module."
dist.destroy_process_group()
