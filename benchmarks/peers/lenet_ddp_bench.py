#!/usr/bin/env python3
"""PyTorch DDP peer for benchmarks/compare.py's data_parallel section: MindSpore's LeNet5 (lenet_torch_model.py)
trained data parallel by torch.nn.parallel.DistributedDataParallel over gloo, RANKS processes on this host,
THREADS threads each. Prints one JSON object.

Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 benchmarks/peers/lenet_ddp_bench.py
         [--ranks 2] [--threads 1] [--batch 32] [--steps 2000]

Measured as bench_data_parallel's `step`: each rank trains on its own random batch of BATCH (zero_grad, forward,
CrossEntropyLoss, backward with DDP's bucketed gloo allreduce overlapped, SGD lr 0.01 momentum 0.9 step); rank 0's
per-step times after 100 warm-up steps, median.
"""
import argparse
import json
import os
import socket
import statistics
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--ranks', type=int, default=2)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--steps', type=int, default=2000)
    return ap.parse_args()


def worker(rank, args, port, queue):
    os.environ['OMP_NUM_THREADS'] = os.environ['OPENBLAS_NUM_THREADS'] = str(args.threads)
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from lenet_torch_model import LeNet5

    torch.set_num_threads(args.threads)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=args.ranks)
    torch.manual_seed(1)
    net = nn.parallel.DistributedDataParallel(LeNet5())
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(2 + rank)
    x = torch.randn(args.batch, 1, 32, 32, generator=g)
    y = torch.randint(0, 10, (args.batch,), generator=g)
    times = []
    for i in range(args.steps + 100):
        t0 = time.perf_counter()
        opt.zero_grad()
        lossf(net(x), y).backward()
        opt.step()
        if i >= 100:
            times.append(time.perf_counter() - t0)
    if rank == 0:
        queue.put({'ranks': args.ranks, 'batch_per_rank': args.batch, 'threads_per_rank': args.threads,
                   'step_ms': statistics.median(times) * 1e3, 'torch': torch.__version__, 'backend': 'gloo'})
    dist.barrier()
    dist.destroy_process_group()


def main():
    args = parse_args()
    import torch.multiprocessing as mp
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, args, port, queue)) for r in range(args.ranks)]
    for p in procs:
        p.start()
    result = queue.get(timeout=600)
    for p in procs:
        p.join()
    print(json.dumps(result))


if __name__ == '__main__':
    main()
