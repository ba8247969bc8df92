"""Seconds and trustworthiness of each embedding method on fashion-cnn features (relu5, 128-d) of
Fashion-MNIST, at several sizes, beside scikit-learn's Barnes-Hut t-SNE, the alternative to openTSNE.

    python benchmarks/embedding.py [N ...]        (default: 10000 60000)
"""

import sys
import time

import numpy as np
import torch

import vizkit as vk


def sklearn_tsne(f, seed=0):
    from sklearn.manifold import TSNE

    return TSNE(2, perplexity=30, init="pca", random_state=seed).fit_transform(f)


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [10000, 60000]
    torch.set_num_threads(2)
    net = vk.load("fashion-cnn")
    train, test = vk.FashionMNIST(train=True), vk.FashionMNIST(train=False)
    vk.embed(np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32), "umap")  # numba warm-up
    print(f"{'N':>6} {'method':16} {'seconds':>8} {'trustworthiness (5-NN, 5000-point sample)':>42}")
    for n in sizes:
        data = test.subset(n) if n <= len(test) else train.subset(n)
        f = vk.features(net, data, "relu5", cache=True, progress=False)
        sample = np.random.default_rng(0).permutation(n)[:5000]
        methods = {"pca": lambda f: vk.embed(f, "pca"), "openTSNE": lambda f: vk.embed(f, "tsne"),
                   "umap": lambda f: vk.embed(f, "umap")}
        methods["sklearn t-SNE"] = sklearn_tsne  # minutes at 60,000 points
        for name, run in methods.items():
            start = time.perf_counter()
            points = run(f)
            seconds = time.perf_counter() - start
            trust = vk.trustworthiness(f[sample], points[sample])
            print(f"{n:6d} {name:16} {seconds:8.1f} {trust:42.3f}", flush=True)


if __name__ == "__main__":
    main()
