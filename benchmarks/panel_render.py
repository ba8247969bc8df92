"""How long the activations panel takes to redraw when only the channel changes (goal: < 100 ms),
beside a full recompute (new image: forward pass + draw), for fashion-cnn and an AlexNet-sized net.

    python benchmarks/panel_render.py
"""

import statistics
import time

import torch
import torchvision

import vizkit as vk
from vizkit.ui import ActivationsPanel


def median_ms(action, repeats=15):
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def measure(net, images, layer):
    panel = ActivationsPanel(net, images, layer=layer)
    names = list(images)
    rows = []
    for mode in ("one channel", "all channels"):
        panel.mode.value = mode
        channel = median_ms(lambda i: setattr(panel.channel, "value", (i + 1) % 8))

        def new_image(i):
            panel._cache.clear()
            panel._pictures.clear()
            panel.image.value = names[(i + 1) % len(names)]
        fresh = median_ms(new_image, repeats=5)
        rows.append((net.name, layer, mode, channel, fresh))
    return rows


def main():
    torch.set_num_threads(2)
    test = vk.FashionMNIST(train=False)
    photos = {n: vk.sample_image(n) for n in vk.sample_images()}
    rows = measure(vk.load("fashion-cnn"), {f"item {i}": test[i][0] for i in range(3)}, "relu2")
    alexnet = vk.wrap(torchvision.models.alexnet(), mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225],
                      input_size=224, name="alexnet (random weights)")
    alexnet.resize = 256
    rows += measure(alexnet, photos, "relu1")
    print(f"{'model':26} {'layer':6} {'view':13} {'channel change':>15} {'new image':>10} {'ratio':>6}")
    for name, layer, mode, channel, fresh in rows:
        print(f"{name:26} {layer:6} {mode:13} {channel:12.1f} ms {fresh:7.1f} ms {fresh / channel:6.1f}")


if __name__ == "__main__":
    main()
