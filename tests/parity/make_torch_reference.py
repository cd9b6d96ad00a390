"""PyTorch reference networks for mindsave's parity tests (run with /usr/bin/python3, which sees
Debian's python3-torch).

  make_torch_reference.py --out DIR --models resnet50,lenet5

For each model: random weights (ResNet50 also random BatchNorm running statistics), eval mode, and
the logits of a fixed random input, computed in float64. Writes
  DIR/<model>.pth      torch.save(model.state_dict()): PyTorch's (torchvision's) names, as a user has them;
                       the test converts it with `mindsave convert`, which owns the renaming
  DIR/<model>_io.pth   torch.save({"input": x, "logits": logits}), both Float32

Exits 4 (skipped) when torch cannot be imported, unless CI=true (then 1).
"""
import argparse
import os
import sys

SKIP = 4
IN_CI = os.environ.get("CI") == "true"


def skip_or_fail(reason):
    if IN_CI:
        print(f"FAILED (CI=true): {reason}", file=sys.stderr)
        sys.exit(1)
    print(f"SKIPPED: {reason}")
    sys.exit(SKIP)


try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError as e:
    skip_or_fail(f"{sys.executable} cannot import torch ({e}); apt-get install python3-torch")


# ---- networks ----------------------------------------------------------------------------------

class MaxPoolSame(nn.Module):
    """MindSpore's MaxPool2d(pad_mode='same'): output ceil(n / stride), the odd padding pixel after
    (TensorFlow's SAME). torchvision's MaxPool2d(3, 2, padding=1) pads both sides instead, which
    shifts every window by one pixel on even inputs: mindvision's ResNet50 is not torchvision's there."""

    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        pads = []
        for n in (x.shape[3], x.shape[2]):  # F.pad takes the last axis first
            out = -(-n // self.stride)
            total = max((out - 1) * self.stride + self.kernel - n, 0)
            pads += [total // 2, total - total // 2]
        return F.max_pool2d(F.pad(x, pads, value=float("-inf")), self.kernel, self.stride)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (ResNet v1.5: the stride on the 3x3 conv), as mindvision's ResidualBlock."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """torchvision's resnet50 (same module names), with MindSpore's 'same' max pool."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = MaxPoolSame(3, 2)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2)
        self.layer3 = self._make_layer(256, 6, stride=2)
        self.layer4 = self._make_layer(512, 3, stride=2)
        self.fc = nn.Linear(2048, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(x.mean(dim=(2, 3)), 1))


class LeNet5(nn.Module):
    """MindSpore's LeNet5: valid convs without bias, ReLU, 2x2 max pools, three dense layers."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, bias=False)
        self.conv2 = nn.Conv2d(6, 16, 5, bias=False)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def randomize_batchnorm(model, generator):
    """Running statistics first taken from a training-mode pass over random images (so activations keep
    a sane scale through 16 blocks), then perturbed at random, with random gamma and beta."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average: one pass sets the statistics of that batch
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, 224, 224, generator=generator))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                std = m.running_var.sqrt()
                m.running_mean += 0.2 * std * torch.randn(c, generator=generator)
                m.running_var *= 0.5 + 1.5 * torch.rand(c, generator=generator)
                m.weight.copy_(0.5 + torch.rand(c, generator=generator))
                m.bias.copy_(0.2 * torch.randn(c, generator=generator))
    model.eval()


def make(model_name):
    generator = torch.Generator().manual_seed(20240613)
    torch.manual_seed(7)
    if model_name == "resnet50":
        model = ResNet50(1000)
        randomize_batchnorm(model, generator)
        x = torch.randn(2, 3, 224, 224, generator=generator)
    else:
        model = LeNet5(10)
        x = torch.randn(4, 1, 32, 32, generator=generator)
    model.eval()
    with torch.no_grad():
        logits = model.double()(x.double()).float()
        model.float()
    return model, x, logits


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--models", default="resnet50,lenet5")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    for name in args.models.split(","):
        if name not in ("resnet50", "lenet5"):
            sys.exit(f"unknown model {name!r}")
        model, x, logits = make(name)
        state = model.state_dict()
        torch.save(state, os.path.join(args.out, f"{name}.pth"))
        torch.save({"input": x.float(), "logits": logits}, os.path.join(args.out, f"{name}_io.pth"))
        with torch.no_grad():
            f32 = model(x)
        print(f"{name}: {len(state)} tensors in the state dict, logits {tuple(logits.shape)}, max |logit| "
              f"{logits.abs().max().item():.4g}; torch float32 vs float64: max |diff| / max |logit| "
              f"{((f32 - logits).abs().max() / logits.abs().max()).item():.3g}")


if __name__ == "__main__":
    main()
