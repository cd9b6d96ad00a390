#!/usr/bin/env python3
# Speed peer for benchmarks/compare.py: the same LeNet5 recipe and checkpoint sizes in PyTorch 1.13
# (Debian python3-torch), at a given thread count; prints one JSON object on stdout.
"""PyTorch peer timings, for benchmarks/compare.py (which runs this for 1 and 2 threads).

Run: env -u OPENBLAS_CORETYPE /usr/bin/python3 benchmarks/peers/lenet_torch_bench.py --threads N
         [--only train,infer,epoch,ckpt] [--seconds S] [--data DIR]
(/usr/bin/python3 sees python3-torch; unset OPENBLAS_CORETYPE so OpenBLAS picks its AVX-512 kernels.)

What is measured (the model is MindSpore's LeNet5 as in lenet_torch_accuracy.py: conv1 1->6 5x5 no bias,
ReLU, maxpool 2, conv2 6->16 5x5 no bias, ReLU, maxpool 2, flatten, fc1 400->120 ReLU, fc2 120->84 ReLU,
fc3 84->10; SGD lr 0.01 momentum 0.9; CrossEntropyLoss):

  train   one step on a random batch of 32 (zero_grad, forward, loss, backward, SGD step): median of
          per-step times after a warm-up.
  infer   forward of a random batch of 256: eager under torch.no_grad(), and frozen, optimized
          TorchScript (torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(m).eval())))
          under torch.no_grad(); medians of each, and the faster of the two as "best".
  epoch   one Fashion-MNIST epoch, 60000 training images, batch 32, 1875 steps. Before the clock starts:
          the idx .gz files are read and decoded into uint8 arrays once (mindsave's MnistDataset does the
          same at construction). Timed, per epoch, as a streaming pipeline like mindsave's (map, shuffle,
          batch): a fresh random permutation; per step, the gather of 32 uint8 images and labels by index,
          their preprocessing (bilinear resize 28->32, round, clamp, /255, normalise by mean 0.1307 std
          0.3081: lenet_torch_accuracy.py's ops, in place) and the training step. Preprocessing per batch
          gives the same tensors as one pass over all 60000 images and is faster here (one pass allocates
          245 MB tensors whose page faults cost seconds on this VM). Reported: total seconds, and of it
          the pipeline's (gather + preprocessing) and the training's.
  ckpt    torch.save / torch.load of a ResNet50-size state dict (torchvision resnet50's 267 float tensors:
          weights, biases, BatchNorm running stats; no num_batches_tracked), 97.7 MiB, beside a raw write and
          read() of the same file bytes, interleaved. Saves are durable as mindsave's are: write to a
          temporary file, fsync, rename, fsync the folder. Loads read a file already in the page cache;
          raw read = read() into a fresh buffer (os.read).
Threads: torch.set_num_threads(N) (OpenMP and oneDNN) and OpenBLAS's own pool set to N as well
(--blas-threads), so neither oversubscribes the cores. --omp-wait passive makes idle OpenMP threads sleep
instead of spinning: slower on an idle machine, far faster when other processes share the cores.
"""
import argparse
import ctypes
import gzip
import json
import os
import statistics
import struct
import sys
import tempfile
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--only', default='train,infer,epoch,ckpt', help='comma-separated sections')
    ap.add_argument('--seconds', type=float, default=2.0, help='minimum timed seconds per micro-benchmark')
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    ap.add_argument('--blas-threads', type=int, help="OpenBLAS's own thread pool (default: --threads)")
    ap.add_argument('--omp-wait', choices=('default', 'active', 'passive'), default='default',
                    help='OMP_WAIT_POLICY for the OpenMP threads (default: as the environment has it)')
    return ap.parse_args()


ARGS = parse_args()
if ARGS.blas_threads is None:
    ARGS.blas_threads = ARGS.threads
# Before torch loads: OpenMP and OpenBLAS read these at start-up.
os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = str(ARGS.threads)
os.environ['OPENBLAS_NUM_THREADS'] = str(ARGS.blas_threads)
if ARGS.omp_wait != 'default':
    os.environ['OMP_WAIT_POLICY'] = ARGS.omp_wait.upper()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def blas_info():
    """Which BLAS torch really loaded, its kernel and thread count; OpenBLAS set to our thread count."""
    info = {'torch_blas': 'unknown'}
    libs = sorted({ln.split()[-1] for ln in open('/proc/self/maps') if 'blas' in ln.split()[-1]})
    info['loaded'] = libs
    for lib in libs:
        try:
            b = ctypes.CDLL(lib)
            b.openblas_get_corename.restype = ctypes.c_char_p
            b.openblas_get_config.restype = ctypes.c_char_p
        except (OSError, AttributeError):
            continue
        b.openblas_set_num_threads(ARGS.blas_threads)
        info['torch_blas'] = 'openblas'
        info['openblas_config'] = b.openblas_get_config().decode()
        info['openblas_core'] = b.openblas_get_corename().decode()
        info['openblas_threads'] = b.openblas_get_num_threads()
        break
    info['mkldnn'] = torch.backends.mkldnn.is_available()
    return info


from lenet_torch_model import LeNet5  # noqa: E402  (after torch is configured above)


def timed_reps(fn, seconds, min_reps=20, warmup=20):
    """Per-call times in seconds: warm-up calls first, then at least min_reps and `seconds` of calls."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def summary(times, items):
    med = statistics.median(times)
    return {'median_ms': med * 1e3, 'min_ms': min(times) * 1e3, 'reps': len(times),
            'images_per_s': items / med}


def training(seed=1):
    torch.manual_seed(seed)
    net = LeNet5()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    return net, opt, nn.CrossEntropyLoss()


def step(net, opt, lossf, x, y):
    opt.zero_grad()
    loss = lossf(net(x), y)
    loss.backward()
    opt.step()
    return loss


def bench_train():
    net, opt, lossf = training()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(32, 1, 32, 32, generator=g)
    y = torch.randint(0, 10, (32,), generator=g)
    return summary(timed_reps(lambda: step(net, opt, lossf, x, y), ARGS.seconds, warmup=50), 32)


def bench_infer():
    net, _, _ = training()
    net.eval()
    x = torch.randn(256, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    out = {}
    with torch.no_grad():
        out['eager'] = summary(timed_reps(lambda: net(x), ARGS.seconds), 256)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(net).eval()))
        ref = net(x)
        if not torch.allclose(frozen(x), ref, rtol=1e-4, atol=1e-4):
            raise RuntimeError('frozen TorchScript disagrees with eager')
        out['torchscript'] = summary(timed_reps(lambda: frozen(x), ARGS.seconds), 256)
    best = min(('eager', 'torchscript'), key=lambda k: out[k]['median_ms'])
    out['best'] = best
    out['best_median_ms'] = out[best]['median_ms']
    out['best_images_per_s'] = out[best]['images_per_s']
    return out


def read_idx(path, magic, header):
    with gzip.open(path, 'rb') as f:
        b = f.read()
    fields = struct.unpack('>' + 'I' * header, b[:4 * header])
    if fields[0] != magic:
        raise RuntimeError(f'{path}: magic {fields[0]:#x}')
    return np.frombuffer(b, dtype=np.uint8, offset=4 * header).reshape(fields[1:])


def preprocess(u8):
    """uint8 [N,28,28] -> float [N,1,32,32]: the ops of lenet_torch_accuracy.py, in place where possible."""
    x = F.interpolate(u8.to(torch.float32).unsqueeze(1), size=(32, 32), mode='bilinear', align_corners=False)
    return x.round_().clamp_(0, 255).div_(255.0).sub_(0.1307).div_(0.3081)


def bench_epoch(bs=32):
    imgs = torch.from_numpy(read_idx(f'{ARGS.data}/train-images-idx3-ubyte.gz', 0x803, 4).copy())
    labels = torch.from_numpy(read_idx(f'{ARGS.data}/train-labels-idx1-ubyte.gz', 0x801, 2).astype(np.int64))
    net, opt, lossf = training()
    gen = torch.Generator().manual_seed(1)
    steps = imgs.shape[0] // bs  # drop the last partial batch: 1875 steps
    # warm-up: a few steps on the first images, outside the clock (first-call allocations)
    for s in range(20):
        step(net, opt, lossf, preprocess(imgs[s * bs:(s + 1) * bs]), labels[s * bs:(s + 1) * bs])
    prep = 0.0
    t0 = time.perf_counter()
    perm = torch.randperm(imgs.shape[0], generator=gen)
    for s in range(steps):
        p0 = time.perf_counter()
        idx = perm[s * bs:(s + 1) * bs]
        x, y = preprocess(imgs[idx]), labels[idx]
        prep += time.perf_counter() - p0
        loss = step(net, opt, lossf, x, y)
    total = time.perf_counter() - t0
    return {'seconds': total, 'pipeline_s': prep, 'train_s': total - prep, 'steps': steps,
            'images': steps * bs, 'last_loss': float(loss)}


def resnet50_state_dict():
    """torchvision resnet50's state_dict names and shapes (no num_batches_tracked): 267 float32 tensors."""
    shapes = {'conv1.weight': (64, 3, 7, 7)}

    def bn(p, c):
        for n in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[f'{p}.{n}'] = (c,)
    bn('bn1', 64)
    cin = 64
    for stage, blocks in enumerate((3, 4, 6, 3)):
        width = 64 << stage
        for b in range(blocks):
            p = f'layer{stage + 1}.{b}'
            shapes[f'{p}.conv1.weight'] = (width, cin, 1, 1)
            bn(f'{p}.bn1', width)
            shapes[f'{p}.conv2.weight'] = (width, width, 3, 3)
            bn(f'{p}.bn2', width)
            shapes[f'{p}.conv3.weight'] = (width * 4, width, 1, 1)
            bn(f'{p}.bn3', width * 4)
            if b == 0:
                shapes[f'{p}.downsample.0.weight'] = (width * 4, cin, 1, 1)
                bn(f'{p}.downsample.1', width * 4)
            cin = width * 4
    shapes['fc.weight'] = (1000, 2048)
    shapes['fc.bias'] = (1000,)
    g = torch.Generator().manual_seed(7)
    return {k: torch.rand(s, generator=g) - 0.5 for k, s in shapes.items()}


def fsync_dir(path):
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_torch_save(sd, path):
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        torch.save(sd, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    fsync_dir(path)


def durable_raw_write(data, path):
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    fsync_dir(path)


def raw_read(path):
    """The file's bytes in a fresh buffer, nothing parsed: os.read() fills a new bytes object (no zeroing)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks, left = [], os.fstat(fd).st_size
        while left:
            b = os.read(fd, left)
            if not b:
                raise RuntimeError(f'{path}: short read')
            chunks.append(b)
            left -= len(b)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b''.join(chunks)


def interleave(ours, raw, reps):
    """Alternating order per rep, so neither always follows the other; medians of both, in seconds."""
    t_ours, t_raw = [], []
    for i in range(reps):
        for k in ((0, 1) if i % 2 == 0 else (1, 0)):
            t0 = time.perf_counter()
            (ours if k == 0 else raw)()
            (t_ours if k == 0 else t_raw).append(time.perf_counter() - t0)
    return statistics.median(t_ours), statistics.median(t_raw)


def bench_ckpt():
    sd = resnet50_state_dict()
    tensor_bytes = sum(t.numel() * t.element_size() for t in sd.values())
    with tempfile.TemporaryDirectory(prefix='mindsave_torch_peer_') as d:
        ours_path, raw_path = os.path.join(d, 'resnet50.pt'), os.path.join(d, 'resnet50.raw')
        durable_torch_save(sd, ours_path)
        data = open(ours_path, 'rb').read()
        durable_raw_write(data, raw_path)
        save, save_raw = interleave(lambda: durable_torch_save(sd, ours_path), lambda: durable_raw_write(data, raw_path), 6)
        loaded = torch.load(ours_path)
        if loaded.keys() != sd.keys() or not all(torch.equal(loaded[k], sd[k]) for k in sd):
            raise RuntimeError('torch.load returned other tensors')
        del loaded
        load, load_raw = interleave(lambda: torch.load(ours_path), lambda: raw_read(ours_path), 20)
    return {'tensors': len(sd), 'tensor_bytes': tensor_bytes, 'file_bytes': len(data),
            'save_ms': save * 1e3, 'raw_write_ms': save_raw * 1e3, 'load_ms': load * 1e3, 'raw_read_ms': load_raw * 1e3}


def main():
    torch.set_num_threads(ARGS.threads)
    out = {'torch': torch.__version__, 'numpy': np.__version__, 'threads': ARGS.threads,
           'torch_threads': torch.get_num_threads(), 'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY', 'default'),
           'blas': blas_info()}
    sections = {'train': bench_train, 'infer': bench_infer, 'epoch': bench_epoch, 'ckpt': bench_ckpt}
    for name in ARGS.only.split(','):
        if name not in sections:
            sys.exit(f'lenet_torch_bench: unknown section {name!r} (have {", ".join(sections)})')
        out[name] = sections[name]()
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == '__main__':
    main()
