"""Images per second of vk.features against a bare forward loop over the same images and batch size
(goal: at least 0.9 of the bare loop), for several layers of fashion-cnn.

    python benchmarks/features.py [N]
"""

import sys

import torch
from _timing import best_of

import vizkit as vk


def bare_loop(net, data, batch_size):
    """What vk.features does, without its machinery: normalise, forward, copy out."""
    out = []
    with torch.no_grad():
        net.model.eval()
        for start in range(0, len(data), batch_size):
            x, _ = data.tensors(torch.arange(start, min(start + batch_size, len(data))))
            out.append(net.model(net.normalize(x)).numpy())
    return out


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    torch.set_num_threads(2)
    net = vk.load("fashion-cnn")
    data = vk.FashionMNIST(train=False).subset(n)
    batch = 256
    print(f"{n} Fashion-MNIST test images, batch {batch}, {torch.get_num_threads()} threads; each pair of")
    print("timings interleaved (bare, features, bare, ...) so that drift in the machine's speed hits both")
    print(f"{'layer':8} {'vk.features img/s':>18} {'bare full forward img/s':>24} {'ratio':>6}")
    for layer in ("conv2", "relu3", "fc4", "relu5", "fc6"):
        bare, t = [], []
        for _ in range(3):
            bare.append(best_of(lambda: bare_loop(net, data, batch), repeats=1))
            t.append(best_of(lambda layer=layer: vk.features(net, data, layer, batch_size=batch, progress=False),
                             repeats=1))
        print(f"{layer:8} {n / min(t):18.0f} {n / min(bare):24.0f} {min(bare) / min(t):6.2f}")


if __name__ == "__main__":
    main()
