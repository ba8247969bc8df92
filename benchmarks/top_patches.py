"""top_patches against a bare forward pass over the same images and batch size (goal: at most 10 %
slower), its peak memory at two dataset sizes (goal: flat), and several layers in one pass (top_patches_of, what
`python -m vizkit scan` runs) against one pass per layer (goal: about the cost of the deepest layer's pass alone).

    python benchmarks/top_patches.py
"""

import subprocess
import sys

import torch
from _timing import best_of

import vizkit as vk
from vizkit.inspect.patches import top_patches_of


def bare(model, net, data, batch):
    """Normalise and run `model` batch by batch, keeping nothing."""
    with torch.no_grad():
        for start in range(0, len(data), batch):
            x, _ = data.tensors(torch.arange(start, min(start + batch, len(data))))
            model(net.normalize(x))


def peak_rss_mib(size: int) -> float:
    """Peak resident memory of a fresh process that loads the net and runs top_patches on `size` images."""
    code = (f"import resource, torch, vizkit as vk; torch.set_num_threads(2); net = vk.load('fashion-cnn'); "
            f"data = vk.FashionMNIST(train=False).subset({size}); "
            f"vk.top_patches(net, data, 'conv3', k=9, batch_size=256, progress=False); "
            f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def main():
    torch.set_num_threads(2)
    net = vk.load("fashion-cnn")
    test = vk.FashionMNIST(train=False)
    batch, n = 256, 5000
    data = test.subset(n)
    t_whole = best_of(lambda: bare(net.model, net, data, batch))
    print(f"{n} images, batch {batch}, {torch.get_num_threads()} threads; bare forward of the whole net: "
          f"{t_whole:.2f} s")
    print(f"{'layer':6} {'top_patches s':>14} {'bare forward up to the layer s':>31} {'ratio':>6}")
    for layer, upto in (("conv1", 1), ("conv2", 4), ("conv3", 7)):
        t_bare = best_of(lambda upto=upto: bare(net.model.features[:upto], net, data, batch))
        t = best_of(lambda layer=layer: vk.top_patches(net, data, layer, k=9, batch_size=batch, progress=False))
        print(f"{layer:6} {t:14.2f} {t_bare:31.2f} {t / t_bare:6.2f}")
    layers = ["conv1", "conv2", "conv3"]
    t_each = best_of(lambda: [vk.top_patches(net, data, layer, k=9, batch_size=batch, progress=False)
                              for layer in layers])
    t_one = best_of(lambda: top_patches_of(net, data, layers, k=9, batch_size=batch, progress=False))
    t_last = best_of(lambda: vk.top_patches(net, data, layers[-1], k=9, batch_size=batch, progress=False))
    print(f"\n{', '.join(layers)}: one pass per layer {t_each:.2f} s, one pass for all {t_one:.2f} s "
          f"({t_each / t_one:.2f}x faster); {layers[-1]} alone {t_last:.2f} s (one pass / that: {t_one / t_last:.2f})")
    print("\npeak resident memory of a process running top_patches(conv3, k=9) (the 10,000-image test set")
    print("is loaded in both cases, 7.5 MiB as uint8):")
    for size in (1000, 10000):
        print(f"{size:6d} images: {peak_rss_mib(size):6.0f} MiB")


if __name__ == "__main__":
    main()
