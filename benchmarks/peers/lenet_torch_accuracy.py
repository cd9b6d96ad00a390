#!/usr/bin/env python3
# Peer for the accuracy test: the same LeNet5 recipe in PyTorch (Debian python3-torch), over seeds.
# Run: env -u OPENBLAS_CORETYPE /usr/bin/python3 benchmarks/peers/lenet_torch_accuracy.py [seed ...]
"""PyTorch mirror of the MindSpore quick-start LeNet5 recipe on Fashion-MNIST.
Usage: env -u OPENBLAS_CORETYPE python3 lenet_torch.py [seed ...]   (default seeds 1..6)"""
import gzip, struct, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
D = '/usr/share/datasets/fashion-mnist'

def load_images(p):
    with gzip.open(p, 'rb') as f:
        b = f.read()
    magic, n, r, c = struct.unpack('>IIII', b[:16])
    assert magic == 0x00000803, hex(magic)
    return np.frombuffer(b, dtype=np.uint8, offset=16).reshape(n, r, c)

def load_labels(p):
    with gzip.open(p, 'rb') as f:
        b = f.read()
    magic, n = struct.unpack('>II', b[:8])
    assert magic == 0x00000801, hex(magic)
    return np.frombuffer(b, dtype=np.uint8, offset=8)[:n]

def preprocess(imgs):
    x = torch.from_numpy(imgs.astype(np.float32)).unsqueeze(1)  # N,1,28,28, 0..255
    x = F.interpolate(x, size=(32, 32), mode='bilinear', align_corners=False)
    x = torch.clamp(torch.round(x), 0, 255)
    x = x / 255.0
    x = (x - 0.1307) / 0.3081
    return x.contiguous()

from lenet_torch_model import LeNet5  # noqa: E402  (after torch is configured above)

def evaluate(net, x, y):
    net.eval()
    with torch.no_grad():
        correct = 0
        for i in range(0, x.shape[0], 1000):
            correct += (net(x[i:i+1000]).argmax(1) == y[i:i+1000]).sum().item()
    net.train()
    return correct / x.shape[0]

def run(seed, xtr, ytr, xte, yte, epochs=2, bs=32):
    torch.manual_seed(seed)
    net = LeNet5()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    lossf = nn.CrossEntropyLoss()
    steps = xtr.shape[0] // bs  # drop last partial batch
    accs, times = [], []
    for ep in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(xtr.shape[0], generator=gen)
        for s in range(steps):
            idx = perm[s*bs:(s+1)*bs]
            opt.zero_grad()
            loss = lossf(net(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
        accs.append(evaluate(net, xte, yte))
        print(f'seed {seed} epoch {ep+1}: acc {accs[-1]:.4f}  train {times[-1]:.1f}s  last loss {loss.item():.4f}', flush=True)
    return accs, times

def main():
    seeds = [int(a) for a in sys.argv[1:]] or list(range(1, 7))
    print('torch', torch.__version__, 'numpy', np.__version__, 'threads', torch.get_num_threads(), flush=True)
    xtr = preprocess(load_images(f'{D}/train-images-idx3-ubyte.gz'))
    ytr = torch.from_numpy(load_labels(f'{D}/train-labels-idx1-ubyte.gz').astype(np.int64))
    xte = preprocess(load_images(f'{D}/t10k-images-idx3-ubyte.gz'))
    yte = torch.from_numpy(load_labels(f'{D}/t10k-labels-idx1-ubyte.gz').astype(np.int64))
    print('train', tuple(xtr.shape), 'test', tuple(xte.shape), flush=True)
    res = {}
    for s in seeds:
        res[s] = run(s, xtr, ytr, xte, yte)
    print('\nseed | ep1 acc | ep2 acc | ep1 s | ep2 s')
    for s, (a, t) in res.items():
        print(f'{s:4d} | {a[0]:.4f} | {a[1]:.4f} | {t[0]:.1f} | {t[1]:.1f}')
    A = np.array([r[0] for r in res.values()]); T = np.array([r[1] for r in res.values()])
    for j in range(2):
        print(f'epoch {j+1}: mean {A[:,j].mean():.4f} min {A[:,j].min():.4f} max {A[:,j].max():.4f}')
    print(f'seconds/epoch (train only): mean {T.mean():.1f} min {T.min():.1f} max {T.max():.1f}')

if __name__ == '__main__':
    main()
