"""train(): learns, is reproducible from its seed, records per-epoch history, rejects bad settings."""

import pytest
import torch

import vizkit as vk
from vizkit.nets import fashion_net


@pytest.fixture(scope="module")
def small_sets(fashion_test):
    return (torch.utils.data.Subset(fashion_test, range(0, 1000)),
            torch.utils.data.Subset(fashion_test, range(1000, 1500)))


def fresh(seed=0):
    torch.manual_seed(seed)
    return fashion_net()


def test_training_learns_and_records_history(small_sets, tmp_path):
    train_set, eval_set = small_sets
    net = fresh()
    chance = vk.evaluate(net, eval_set)
    history = vk.train(net, train_set, epochs=3, lr=0.05, weight_decay=5e-4, eval_set=eval_set, progress=False,
                       settings=vk.TrainSettings(batch_size=64, schedule="constant"))
    assert len(history.epochs) == 3
    assert history["loss"][-1] < history["loss"][0]
    assert history["eval_accuracy"][-1] > max(0.5, chance + 0.3)
    assert history["eval_accuracy"][-1] == pytest.approx(vk.evaluate(net, eval_set))
    history.save(tmp_path / "run.json")
    again = vk.History.load(tmp_path / "run.json")
    assert again.epochs == history.epochs and again.settings["lr"] == 0.05
    with pytest.raises(KeyError, match="recorded"):
        history["nope"]


def test_same_seed_same_weights(small_sets):
    sub = torch.utils.data.Subset(small_sets[0], range(256))
    a, b = fresh(), fresh()
    vk.train(a, sub, epochs=1, lr=0.05, seed=3, progress=False, settings=vk.TrainSettings(augment=True))
    vk.train(b, sub, epochs=1, lr=0.05, seed=3, progress=False, settings=vk.TrainSettings(augment=True))
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)


def test_in_memory_and_item_by_item_datasets_train_identically(fashion_test):
    """The fast path (dataset.tensors) and the DataLoader path see the same batches."""
    class ItemByItem(torch.utils.data.Dataset):
        def __len__(self):
            return 128

        def __getitem__(self, i):
            return fashion_test[i]

    class InMemory(ItemByItem):
        def tensors(self, idx):
            return fashion_test.tensors(idx)

    a, b = fresh(), fresh()
    vk.train(a, InMemory(), epochs=1, lr=0.05, progress=False, settings=vk.TrainSettings(batch_size=128))
    vk.train(b, ItemByItem(), epochs=1, lr=0.05, progress=False, settings=vk.TrainSettings(batch_size=128))
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        torch.testing.assert_close(pa, pb)


@pytest.mark.parametrize("kwargs, words", [
    (dict(epochs=0), "epochs"), (dict(lr=-1), "lr"), (dict(weight_decay=-0.1), "weight_decay"),
    (dict(batch_size=0), "batch_size"), (dict(schedule="cosine"), "schedule"), (dict(epochs=1.5), "epochs"),
])
def test_bad_settings(small_sets, kwargs, words):
    settings = dict(epochs=1, lr=0.01) | kwargs
    how = {k: settings.pop(k) for k in ("batch_size", "schedule") if k in settings}
    with pytest.raises((ValueError, TypeError), match=words):
        vk.train(fresh(), small_sets[0], settings=vk.TrainSettings(**how), **settings)


def test_snapshots_follow_the_probe_batch(small_sets, tmp_path):
    train_set, _ = small_sets
    net = fresh()
    h = vk.train(net, train_set, epochs=2, lr=0.05, progress=False, settings=vk.TrainSettings(batch_size=100),
                 snapshots=vk.SnapshotSettings(every=4))
    steps = [s["step"] for s in h.snapshots]
    assert steps == [0, 4, 8, 10, 12, 16, 20]          # start, every 4 steps, each epoch end
    assert h.series("epoch")[0] == [s / 10 for s in steps]
    last = h.snapshots[-1]
    assert torch.equal(last["filters"], net.model.features[0].weight)
    # the recorded statistics equal a direct measurement on the same probe batch (first 256 images)
    probe = train_set.dataset.tensors(torch.arange(256))[0]
    maps = vk.activations(net, net.normalize(probe), ["relu1", "relu3"])
    assert last["sparsity"]["relu1"] == pytest.approx(float((maps["relu1"] <= 0).float().mean()))
    assert torch.equal(last["dead_channels"]["relu3"], vk.dead_filters(net, net.normalize(probe), "relu3"))
    assert last["maps"]["relu1"].shape == (2, 32, 28, 28) and last["maps"]["relu1"].dtype == torch.float16
    assert h.snapshots[0]["loss"] is None and h.snapshots[1]["loss"] > 0
    h.save(tmp_path / "run.pt")
    again = vk.History.load(tmp_path / "run.pt")
    assert torch.equal(again.snapshots[-1]["maps"]["relu2"], last["maps"]["relu2"])
    assert again.series("dead", "relu2") == h.series("dead", "relu2")


def test_divergence_stops_and_is_reported(small_sets):
    net = fresh()
    h = vk.train(net, small_sets[0], epochs=3, lr=90.0, progress=False,
                 settings=vk.TrainSettings(schedule="constant", batch_size=100))
    assert h.diverged and len(h.epochs) <= 3 and h.snapshots


class AuxNet(torch.nn.Module):
    """A GoogLeNet-like model: in train mode it returns a named tuple (logits, aux_logits), in eval mode logits."""

    def __init__(self):
        super().__init__()
        from collections import namedtuple

        self.Outputs = namedtuple("Outputs", ["logits", "aux_logits"])
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.main, self.aux = torch.nn.Linear(4, 10), torch.nn.Linear(4, 10)

    def forward(self, x):
        h = torch.relu(self.conv(x)).mean((2, 3))
        return self.Outputs(self.main(h), self.aux(h)) if self.training else self.main(h)


def test_auxiliary_classifiers_train_with_the_main_one(fashion_test):
    """GoogLeNet / Inception v3 style outputs train on the main logits plus 0.3 times each auxiliary head's loss
    (Szegedy et al. 2015): the auxiliary head learns, and the loss recorded is that sum, by hand."""
    torch.manual_seed(0)
    net = vk.wrap(AuxNet(), classes=fashion_test.classes, mean=[0.5], std=[0.25], input_size=28)
    data = torch.utils.data.Subset(fashion_test, range(32))
    before = net.model.aux.weight.detach().clone()
    x, y = fashion_test.tensors(torch.arange(32))
    net.model.train()
    with torch.no_grad():
        out = net.model(net.normalize(x))
    expected = float(torch.nn.functional.cross_entropy(out.logits, y)
                     + 0.3 * torch.nn.functional.cross_entropy(out.aux_logits, y))
    net.model.eval()
    history = vk.train(net, data, epochs=1, lr=0.01, progress=False, snapshots=False,
                       settings=vk.TrainSettings(batch_size=32, augment=False, schedule="constant"))
    assert history["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert not torch.equal(before, net.model.aux.weight)
