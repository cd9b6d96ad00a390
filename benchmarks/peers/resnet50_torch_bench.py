#!/usr/bin/env python3
# Speed peer for benchmarks/compare.py: ResNet50 at 224x224 in PyTorch 1.13 (Debian python3-torch), the
# network bench_resnet50 runs, at a given thread count; prints one JSON object on stdout.
"""PyTorch ResNet50 timings, for benchmarks/compare.py (which runs this for 1 and 2 threads).

Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 benchmarks/peers/resnet50_torch_bench.py
         --threads N [--seconds S]

The model is torchvision's resnet50 layout (tests/parity/make_torch_reference.py's ResNet50, the network the
parity tests hold mindsave's to), random weights, random inputs:
  infer   forward of a batch of 1 and of 8 in eval mode under torch.no_grad(); eager, and frozen optimized
          TorchScript (torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(m, x)))); the median
          of each after a warm-up, and the faster of the two as "best".
  train   one step at batch 8: zero_grad, forward (BatchNorm in training mode), CrossEntropyLoss, backward,
          SGD lr 0.001 momentum 0.9; the median after a warm-up.
Threads: torch.set_num_threads(N) (OpenMP and oneDNN).
"""
import argparse
import importlib.util
import json
import os
import statistics
import time

import torch


def load_reference():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'parity',
                        'make_torch_reference.py')
    spec = importlib.util.spec_from_file_location('make_torch_reference', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median_seconds(f, seconds):
    f()  # warm-up: buffers, oneDNN's primitives
    times, start = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seconds', type=float, default=3.0, help='minimum timed seconds per measurement')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ResNet50 = load_reference().ResNet50
    out = {'threads': args.threads, 'torch': torch.__version__, 'infer': {}}

    net = ResNet50().eval()
    with torch.no_grad():
        for batch in (1, 8):
            x = torch.randn(batch, 3, 224, 224)
            # traced, not scripted: the 'same' max pool computes its padding in Python
            scripted = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, x)))
            eager = median_seconds(lambda: net(x), args.seconds)
            script = median_seconds(lambda: scripted(x), args.seconds)
            out['infer'][str(batch)] = {'eager_s': eager, 'torchscript_s': script, 'best_s': min(eager, script)}

    net = ResNet50().train()
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(8, 3, 224, 224)
    labels = torch.tensor([i * 37 % 1000 for i in range(8)])

    def step():
        opt.zero_grad()
        loss_fn(net(x), labels).backward()
        opt.step()

    out['train'] = {'batch': 8, 'step_s': median_seconds(step, args.seconds)}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
