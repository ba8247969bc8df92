"""Hostile and odd inputs to training, its record, the precomputed runs and receptive fields: every one is
either right or a clear error (ValueError / TypeError / KeyError / FileNotFoundError naming the problem),
and nothing leaks into the caller's model or torch's global state."""

import io
import math
import pickle

import numpy as np
import pytest
import torch
from _state import model_state, same_state
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset
from tqdm.auto import tqdm

import vizkit as vk
from vizkit.inspect.receptive import receptive_field, receptive_fields
from vizkit.nets import fashion_net
from vizkit.runs import read_runs, train_run
from vizkit.train import take_snapshot


class Evil:
    """An arbitrary class: a file holding one must not be unpickled."""


class Items(torch.utils.data.Dataset):
    """An item-by-item dataset (no .tensors fast path) over a list of items."""

    def __init__(self, items):
        self.items = list(items)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.fixture(scope="module")
def images(fashion_test):
    """(64, 1, 28, 28) [0, 1] images and their labels."""
    return fashion_test.tensors(torch.arange(64))


@pytest.fixture(scope="module")
def small(fashion_test):
    return fashion_test.subset(64)


def fresh(seed=0):
    torch.manual_seed(seed)
    return fashion_net()


TRAIN_FIELDS = ("batch_size", "momentum", "schedule", "augment")  # vk.TrainSettings
SNAPSHOT_FIELDS = dict(probe="probe", probe_size="probe_size", snapshot_layers="layers", snapshot_every="every",
                       map_images="map_images")  # vk.SnapshotSettings


def quick(net, data, **kw):
    """One short training run with defaults that keep it fast; train()'s settings may be given flat, as keywords."""
    kw = dict(epochs=1, lr=0.05, batch_size=32, progress=False, probe_size=8) | kw
    how = {k: kw.pop(k) for k in TRAIN_FIELDS if k in kw}
    watch = {SNAPSHOT_FIELDS[k]: kw.pop(k) for k in list(kw) if k in SNAPSHOT_FIELDS}
    if kw.get("snapshots", True) is True:
        kw["snapshots"] = vk.SnapshotSettings(**watch)
    if "settings" not in kw:
        kw["settings"] = vk.TrainSettings(**how)
    return vk.train(net, data, **kw)


def pairs(x, y, n=8):
    return Items(zip(x[:n], y[:n].tolist()))


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def saved_run(tmp_path, obj, name="run.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


class WithUnused(nn.Module):
    """A conv net with a layer its forward pass never runs."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.unused = nn.ReLU()
        self.fc = nn.Linear(4 * 28 * 28, 10)

    def forward(self, x):
        return self.fc(self.relu(self.conv(x)).flatten(1))


def unused_net():
    torch.manual_seed(0)
    return vk.wrap(WithUnused(), classes=[str(i) for i in range(10)], mean=[0.5], std=[0.25], input_size=28)


# --------------------------------------------------------------------------- (3) errors that say what is wrong

TRAIN_SETTINGS = [
    ("lr nan", dict(lr=math.nan), ValueError, r"lr must be a finite number.*nan"),
    ("lr negative", dict(lr=-1.0), ValueError, r"lr must be .*got -1"),
    ("lr zero", dict(lr=0), ValueError, r"lr must be .*\(0"),
    ("lr inf", dict(lr=math.inf), ValueError, r"lr must be a finite number.*inf"),
    ("lr string", dict(lr="0.1"), TypeError, r"lr must be a number.*'0.1'"),
    ("epochs float", dict(epochs=1.5), TypeError, r"epochs must be an integer.*1.5"),
    ("epochs zero", dict(epochs=0), ValueError, r"epochs must be an integer in \[1"),
    ("batch_size zero", dict(batch_size=0), ValueError, r"batch_size must be an integer in \[1.*got 0"),
    ("batch_size float", dict(batch_size=32.0), TypeError, r"batch_size must be an integer"),
    ("schedule unknown", dict(schedule="cosine"), ValueError, r"schedule must be one of 'onecycle'.*'cosine'"),
    ("momentum negative", dict(momentum=-0.5), ValueError, r"momentum must be .*-0.5"),
    ("momentum nan", dict(momentum=math.nan), ValueError, r"momentum must be a finite number"),
    ("weight_decay inf", dict(weight_decay=math.inf), ValueError, r"weight_decay must be a finite"),
    ("augment unknown", dict(augment="rotate"), ValueError, r"augment must be one of .*'rotate'"),
    ("augment int", dict(augment=0), ValueError, r"augment must be one of"),
    ("seed float", dict(seed=1.5), TypeError, r"seed must be an integer"),
    ("snapshots string", dict(snapshots="yes"), TypeError, r"snapshots must be True, False or a vk.SnapshotSettings"),
    ("settings dict", dict(settings=dict(batch_size=8)), TypeError, r"settings must be a vk.TrainSettings.*dict"),
    ("progress none", dict(progress=None), TypeError, r"progress must be True, False or a tqdm bar"),
    ("progress a bar", dict(progress=tqdm(disable=True)), ValueError, r"progress must be True or False"),
    ("run setting unknown", dict(every=3), TypeError, r"train got an unexpected keyword 'every'.*seed, progress"),
    ("snapshot_every zero", dict(snapshot_every=0), ValueError, r"snapshot every must be an integer in \[1"),
    ("map_images negative", dict(map_images=-1), ValueError, r"map_images must be an integer in \[0"),
    ("probe_size zero", dict(probe_size=0), ValueError, r"probe_size must be an integer in \[1"),
    ("unknown layer", dict(snapshot_layers=["relu9"]), KeyError, r"no layer 'relu9'.*Closest match: 'relu"),
    ("layer none", dict(snapshot_layers=[None]), TypeError, r"snapshot layers must hold layer names"),
    ("layer int", dict(snapshot_layers=3), TypeError, r"snapshot layers must be a layer name"),
    ("no layers", dict(snapshot_layers=[]), TypeError, r"snapshot layers must be a layer name"),
    ("probe wrong shape", dict(probe=torch.rand(4, 1, 32, 32)), ValueError, r"probe must be \(N, 1, 28, 28\)"),
    ("probe 0..255", dict(probe=torch.rand(4, 1, 28, 28) * 255), ValueError, r"probe must hold pixels.*255"),
    ("probe empty dataset", dict(probe=Items([])), ValueError, r"probe is empty"),
]


@pytest.mark.parametrize("kwargs, error, message", [c[1:] for c in TRAIN_SETTINGS], ids=[c[0] for c in TRAIN_SETTINGS])
def test_bad_train_settings_are_named(small, kwargs, error, message):
    with pytest.raises(error, match=message):
        quick(fresh(), small, **kwargs)


def ragged(x, y):
    items = [(x[i], int(y[i])) for i in range(8)]
    items[5] = (torch.rand(1, 27, 27), 1)
    return Items(items)


BAD_DATA = [
    ("empty", lambda x, y: Items([]), ValueError, r"dataset is empty"),
    ("empty subset", lambda x, y: Subset(Items([(x[0], 1)]), []), ValueError, r"dataset is empty"),
    ("not a dataset", lambda x, y: 42, TypeError, r"dataset must be a dataset of \(image, label\).*int"),
    ("a DataLoader", lambda x, y: DataLoader(pairs(x, y)), TypeError, r"a Dataset of .* not a DataLoader"),
    ("uint8 items", lambda x, y: pairs((x * 255).to(torch.uint8), y), ValueError, r"dtype torch.uint8.*/ 255"),
    ("0..255 floats", lambda x, y: pairs(x * 255, y), ValueError, r"pixels in \[0, 1\].*divide by 255"),
    ("NaN pixels", lambda x, y: pairs(x.clone().index_fill_(0, torch.tensor([0]), math.nan), y), ValueError,
     r"NaN or infinite"),
    ("inf pixels", lambda x, y: pairs(torch.where(x > 0.5, math.inf, x), y), ValueError, r"NaN or infinite"),
    ("normalised", lambda x, y: pairs(x - 0.5, y), ValueError, r"looks normalised"),
    ("three channels", lambda x, y: pairs(x.expand(-1, 3, -1, -1), y), ValueError,
     r"must be \(1, 28, 28\).*got \(3, 28, 28\).*1 channel"),
    ("wrong size", lambda x, y: pairs(torch.rand(8, 1, 32, 32), y), ValueError,
     r"must be \(1, 28, 28\).*\(1, 32, 32\)"),
    ("no channel axis", lambda x, y: pairs(x[:, 0], y), ValueError, r"must be \(C, H, W\); got shape \(28, 28\)"),
    ("ragged", ragged, ValueError, r"items have different sizes.*item 5 is \(1, 27, 27\)"),
    ("no labels", lambda x, y: TensorDataset(x[:8]), ValueError,
     r"item 0 must be an \(image, label\) pair; got a tuple of length 1"),
    ("bare tensors", lambda x, y: Items(x[:8]), ValueError, r"item 0 must be an \(image, label\) pair; got a Tensor"),
    ("None labels", lambda x, y: Items((x[i], None) for i in range(8)), TypeError,
     r"item 0's label must be an integer class index; got None"),
    ("float labels", lambda x, y: Items((x[i], float(y[i])) for i in range(8)), TypeError,
     r"item 0's label must be an integer class index; got \d\.0 \(float\)"),
    ("label too big", lambda x, y: Items((x[i], 10) for i in range(8)), ValueError, r"class indices in \[0, 9\].*10"),
    ("negative label", lambda x, y: Items((x[i], -1) for i in range(8)), ValueError, r"class indices.*-1"),
    ("numpy images", lambda x, y: Items((x[i].numpy(), 1) for i in range(8)), TypeError,
     r"image must be a \(C, H, W\) tensor.*got ndarray"),
]


@pytest.mark.parametrize("make, error, message", [c[1:] for c in BAD_DATA], ids=[c[0] for c in BAD_DATA])
def test_bad_datasets_are_named(images, make, error, message):
    data = make(*images)
    net = fresh()
    before = model_state(net)
    with pytest.raises(error, match=message):
        quick(net, data)
    assert same_state(before, model_state(net))
    with pytest.raises(error, match=message):
        vk.evaluate(net, data)
    with pytest.raises(error, match=message.replace("dataset", "eval_set", 1)):
        quick(net, pairs(*images), eval_set=data)


def test_bad_item_late_in_the_data_is_named(images):
    x, y = images
    items = [(x[i], int(y[i])) for i in range(64)]
    items[50] = (x[50] * 255, int(y[50]))
    with pytest.raises(ValueError, match=r"images of dataset items .* must hold pixels in \[0, 1\].*divide by 255"):
        quick(fresh(), Items(items), snapshots=False)


def test_labels_beyond_an_unnamed_nets_classes_are_named(images):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 26 * 26, 3))
    net = vk.wrap(model, mean=[0.5], std=[0.25], input_size=28)
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 2\]; got label"):
        quick(net, pairs(images[0], torch.full((64,), 7)), snapshots=False)


OTHER_CALLS = [
    ("train a plain module", lambda s: vk.train(nn.Linear(2, 2), s, 1, 0.1), TypeError, r"vizkit Net.*Linear"),
    ("evaluate batch_size 0", lambda s: vk.evaluate(vk.load("fashion-cnn"), s, batch_size=0), ValueError,
     r"batch_size must be an integer in \[1"),
    ("evaluate batch_size float", lambda s: vk.evaluate(vk.load("fashion-cnn"), s, batch_size=2.5), TypeError,
     r"batch_size must be an integer"),
    ("evaluate a module", lambda s: vk.evaluate(nn.Linear(2, 2), s), TypeError, r"evaluate: net must be a vizkit Net"),
    ("snapshot of a list", lambda s: take_snapshot(vk.load("fashion-cnn"), [1, 2], ["relu1"]), TypeError,
     r"probe must be an \(N, C, H, W\) tensor"),
    ("snapshot of 0..255", lambda s: take_snapshot(vk.load("fashion-cnn"), torch.rand(2, 1, 28, 28) * 255, "relu1"),
     ValueError, r"probe must hold pixels in \[0, 1\]"),
    ("snapshot layer none", lambda s: take_snapshot(vk.load("fashion-cnn"), torch.rand(2, 1, 28, 28), None),
     TypeError, r"layers must be a layer name"),
    ("frozen net", lambda s: vk.train(frozen(), s, 1, 0.1), ValueError, r"no parameter .* requires grad"),
    ("layer not run", lambda s: quick(unused_net(), s, snapshot_layers=["unused"]), ValueError,
     r"layer 'unused' \(ReLU\) is not run by WithUnused's forward pass"),
    ("run settings not a dict", lambda s: train_run("fast", s, 1), TypeError, r"settings must be a dict.*str"),
    ("run settings typo", lambda s: train_run(dict(lrr=0.1), s, 1), TypeError,
     r"settings has 'lrr', which is not a train\(\) setting; valid: lr, weight_decay"),
    ("run option typo", lambda s: train_run(dict(lr=0.1), s, 1, progres=False), TypeError, r"options has 'progres'"),
    ("run seed in settings", lambda s: train_run(dict(lr=0.1, seed=1), s, 1), TypeError, r"'seed'.*own argument"),
    ("run setting twice", lambda s: train_run(dict(lr=0.1), s, 1, lr=0.2), ValueError, r"'lr' is given both"),
    ("run seed float", lambda s: train_run(dict(lr=0.1), s, 1, seed=0.5), TypeError, r"seed must be an integer"),
    ("runs kind int", lambda s: vk.runs.load(3), TypeError, r"kind names a set of precomputed runs.*3"),
    ("runs kind unknown", lambda s: vk.runs.load("nope"), KeyError, r"'nope'.*filters.*monitoring"),
]


def frozen():
    net = fresh()
    for p in net.model.parameters():
        p.requires_grad_(False)
    return net


@pytest.mark.parametrize("call, error, message", [c[1:] for c in OTHER_CALLS], ids=[c[0] for c in OTHER_CALLS])
def test_bad_calls_are_named(small, call, error, message):
    with pytest.raises(error, match=message):
        call(small)


def corrupt_files(tmp_path):
    good = io.BytesIO()
    vk.History(epochs=[dict(epoch=1, loss=0.5)] * 50).save(good)
    return {
        "random bytes": write(tmp_path, "random.pt", np.random.default_rng(0).bytes(2000)),
        "truncated": write(tmp_path, "truncated.pt", good.getvalue()[: len(good.getvalue()) // 2]),
        "cut short": write(tmp_path, "short.pt", good.getvalue()[:100]),
        "empty": write(tmp_path, "empty.pt", b""),
        "text": write(tmp_path, "text.pt", b"hello world"),
        "raw pickle": write(tmp_path, "pickle.pt", pickle.dumps(Evil())),
    }


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("kind", ["random bytes", "truncated", "cut short", "empty", "text", "raw pickle"])
def test_corrupt_run_files_are_named(tmp_path, kind):
    path = corrupt_files(tmp_path)[kind]
    with pytest.raises(ValueError, match=rf"History.load cannot read '.*{path.name}': it is corrupt or truncated"):
        vk.History.load(path)
    with pytest.raises(ValueError, match=rf"cannot read '.*{path.name}': it is corrupt"):
        read_runs(path)


def test_unsafe_run_files_are_refused(tmp_path):
    path = saved_run(tmp_path, dict(epochs=[], settings={}, snapshots=[Evil()], diverged=False))
    with pytest.raises(ValueError, match=r"run.pt'.*holds a .*Evil object.*unsafe content is refused"):
        vk.History.load(path)
    with pytest.raises(ValueError, match=r"unsafe content is refused"):
        read_runs(path)


RUN_FILES = [
    ("a list", [1, 2], r"not a vizkit training run: expected a dict.*got list"),
    ("other keys", dict(weights=torch.ones(2)), r"not a vizkit training run.*keys \['weights'\]"),
    ("epochs not a list", dict(epochs=1, settings={}, snapshots=[], diverged=False), r"'epochs' should be a list"),
    ("snapshots of ints", dict(epochs=[], settings={}, snapshots=[1], diverged=False),
     r"'snapshots' should be a list of dicts"),
    ("diverged not bool", dict(epochs=[], settings={}, snapshots=[], diverged="no"), r"'diverged' should be a bool"),
]


@pytest.mark.parametrize("obj, message", [c[1:] for c in RUN_FILES], ids=[c[0] for c in RUN_FILES])
def test_files_that_are_not_runs_are_named(tmp_path, obj, message):
    with pytest.raises(ValueError, match=message):
        vk.History.load(saved_run(tmp_path, obj))


def test_run_file_paths(tmp_path):
    h = vk.History(epochs=[dict(epoch=1, loss=0.5)])
    with pytest.raises(FileNotFoundError, match=r"History.save: the folder '.*missing' does not exist.*mkdir"):
        h.save(tmp_path / "missing" / "run.pt")
    assert not (tmp_path / "missing").exists()  # no folder made silently
    with pytest.raises(ValueError, match=r"is a folder; give a file name inside it"):
        h.save(tmp_path)
    with pytest.raises(TypeError, match=r"History.save needs a file path.*int"):
        h.save(3)
    with pytest.raises(FileNotFoundError, match=r"History.load: there is no file '.*nope.pt'"):
        vk.History.load(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match=r"History.load: '.*' is a folder"):
        vk.History.load(tmp_path)
    with pytest.raises(TypeError, match=r"History.load needs a file path"):
        vk.History.load(None)


def test_run_file_of_the_wrong_kind(tmp_path):
    vk.History(epochs=[dict(epoch=1, loss=0.5)]).save(tmp_path / "one.pt")
    with pytest.raises(ValueError, match=r"one.pt' holds one training run.*History.load"):
        read_runs(tmp_path / "one.pt")  # a single History, not name -> History
    with pytest.raises(ValueError, match=r"run 'a' in '.*two.pt' is not a vizkit training run"):
        read_runs(saved_run(tmp_path, {"a": [1]}, "two.pt"))


def test_history_lookups_are_named():
    h = vk.History(epochs=[dict(epoch=1, loss=0.5)],
                   snapshots=[dict(epoch=0.0, loss=None, sparsity={"relu1": 0.5})])
    with pytest.raises(TypeError, match=r"named by a string.*\['loss'\]"):
        h[["loss"]]
    with pytest.raises(KeyError, match=r"'sparsity' has no layer 'relu9'; recorded: \['relu1'\]"):
        h.series("sparsity", "relu9")
    with pytest.raises(ValueError, match=r"'loss' is one value per snapshot.*layer=None"):
        h.series("loss", "relu1")
    with pytest.raises(KeyError, match=r"snapshots have no 'nope'"):
        h.series("nope")


RF_CALLS = [
    ("a plain module", lambda net: receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3)), "0"), TypeError,
     r"receptive fields: net must be a vizkit Net.*Sequential"),
    ("fields of a module", lambda net: receptive_fields(nn.Conv2d(1, 1, 3)), TypeError,
     r"receptive fields: net must be a vizkit Net"),
    ("layer none", lambda net: receptive_field(net, None), TypeError, r"layer is named by a string.*NoneType"),
    ("layer int", lambda net: receptive_field(net, 3), TypeError, r"layer is named by a string.*int"),
    ("unknown layer", lambda net: receptive_field(net, "conv9"), KeyError, r"no layer 'conv9'.*Closest match"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in RF_CALLS], ids=[c[0] for c in RF_CALLS])
def test_bad_receptive_field_calls_are_named(fashion, call, error, message):
    with pytest.raises(error, match=message):
        call(fashion)


# --------------------------------------------------------------------------- (1) silently wrong, now right

def test_float64_items_train_like_float32(images):
    x, y = images
    a, b = fresh(), fresh()
    ha = quick(a, pairs(x, y, 64))
    hb = quick(b, pairs(x.double(), y, 64))
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    assert ha.epochs[0]["loss"] == hb.epochs[0]["loss"]


def test_numpy_settings_are_saved_as_plain_values(small, tmp_path):
    h = quick(fresh(), small, lr=np.float64(0.05), batch_size=np.int64(32), snapshots=False)
    assert type(h.settings["lr"]) is float and type(h.settings["batch_size"]) is int
    h.save(tmp_path / "run.pt")  # numpy scalars would make the file unloadable with weights_only=True
    assert vk.History.load(tmp_path / "run.pt").settings == h.settings


def test_model_spatial_slicing_is_refused_not_mismeasured():
    class Crop(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.out = nn.Identity()

        def forward(self, x):
            return self.out(self.conv(x)[:, :, 2:, 2:])

    class Reshape(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.out = nn.Identity()

        def forward(self, x):
            return self.out(self.conv(x).reshape(1, 2, 8, 32))

    with pytest.raises(ValueError, match=r"turns the 14x14 maps into 12x12 ones"):
        receptive_field(vk.wrap(Crop(), input_size=16), "out")  # the layer after the slicing
    with pytest.raises(ValueError, match=r"turns the 16x16 maps into 8x32 ones"):
        receptive_field(vk.wrap(Reshape(), input_size=16), "out")

    class Channels(nn.Module):  # slicing channels and flattening keep working
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)

        def forward(self, x):
            return self.conv(x)[:, :2].view(-1, 2, 14, 14).flatten(1)

    net = vk.wrap(Channels(), input_size=16)
    assert receptive_field(net, "conv") == ((3, 3), (1, 1), (0, 0)) and receptive_fields(net)


def test_training_a_net_in_no_grad_mode_works(small):
    net = fresh()
    with torch.no_grad():
        h = quick(net, small, snapshots=False)
        assert not torch.is_grad_enabled()
    assert h.epochs and math.isfinite(h.epochs[0]["loss"])


# --------------------------------------------------------------------------- (4) state leaks

def odd_state(net, training: bool):
    """An unusual state, so that "restored to the defaults" would not pass by luck."""
    net.model.train(training)
    net.model.features[1].train(not training)
    net.model.classifier[2].bias.grad = torch.full_like(net.model.classifier[2].bias, 0.5)
    return net


@pytest.mark.parametrize("training", [False, True], ids=["found in eval", "found in train"])
@pytest.mark.parametrize("kwargs", [dict(snapshot_layers=["relu9"]), dict(lr=math.nan), dict(batch_size=0),
                                    dict(epochs=2.0), dict(probe=torch.rand(2, 1, 28, 28) * 9)],
                         ids=["bad layer", "nan lr", "batch 0", "float epochs", "bad probe"])
def test_failed_settings_leave_the_model_exactly_as_found(small, training, kwargs):
    net = odd_state(fresh(), training)
    before = model_state(net)
    with pytest.raises((ValueError, TypeError, KeyError)):
        quick(net, small, **kwargs)
    assert same_state(before, model_state(net)) and net.model.training is training


@pytest.mark.parametrize("training", [False, True], ids=["found in eval", "found in train"])
def test_failed_first_snapshot_leaves_the_model_exactly_as_found(small, training):
    net = unused_net()
    net.model.train(training)
    net.model.fc.weight.grad = torch.ones_like(net.model.fc.weight)
    before = model_state(net)
    with pytest.raises(ValueError, match="not run"):
        quick(net, small, snapshot_layers=["relu", "unused"])
    assert same_state(before, model_state(net)) and net.model.training is training


@pytest.mark.parametrize("training", [False, True], ids=["found in eval", "found in train"])
def test_training_keeps_flags_and_grads_as_found(small, training):
    net = odd_state(fresh(), training)
    flags = [m.training for m in net.model.modules()]
    grads = [p.grad for p in net.model.parameters()]
    before = model_state(net)
    quick(net, small, eval_set=small)
    assert [m.training for m in net.model.modules()] == flags
    assert all(p.grad is g for p, g in zip(net.model.parameters(), grads))
    assert not same_state(before, model_state(net))  # it did train


RANDOM_STATE_USERS = {
    "train": lambda net, data, items: quick(net, data, augment=True),
    "train item by item": lambda net, data, items: quick(net, items, eval_set=items, augment="flip+shift"),
    "evaluate item by item": lambda net, data, items: vk.evaluate(net, items),  # DataLoaders draw a seed
    "train_run": lambda net, data, items: train_run(dict(lr=0.05), data, 1, progress=False, snapshots=False),
}


@pytest.mark.parametrize("name", list(RANDOM_STATE_USERS))
def test_the_global_random_state_is_left_alone(small, images, name):
    net, items = fresh(), pairs(*images, 64)
    state = torch.random.get_rng_state()
    RANDOM_STATE_USERS[name](net, small, items)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_runs_depend_on_the_seed_alone(small):
    a, b = fresh(), fresh()
    torch.manual_seed(5)
    quick(a, small, seed=3, augment=True)
    torch.manual_seed(7)
    quick(b, small, seed=3, augment=True)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)


def test_receptive_field_leaves_a_training_batchnorm_model_alone(torch_home):
    torch.manual_seed(0)
    net = vk.load("resnet18", pretrained=False)
    net.model.train()
    net.model.bn1.eval()  # a per-module flag that model.eval() / model.train() would overwrite
    seen = []
    net.model.conv1.register_forward_hook(lambda *args: seen.append(1))  # the caller's hook
    before = model_state(net)
    with torch.no_grad():
        assert receptive_field(net, "stage1").size == (43, 43)
        assert not torch.is_grad_enabled()
    receptive_fields(net)
    assert same_state(before, model_state(net))
    assert net.model.training and not net.model.bn1.training
    assert not seen  # the shape pass ran without the caller's hooks
    net.model(torch.zeros(2, 3, 64, 64))
    assert seen == [1]  # which are back in place


def test_receptive_field_of_a_tiny_input_in_train_mode():
    """Batch-norm in train mode cannot normalise a single 1x1 map: the shape pass runs in eval mode."""
    import torchvision

    torch.manual_seed(0)
    net = vk.wrap(torchvision.models.resnet18(), mean=[0.5] * 3, std=[0.25] * 3, input_size=32)
    net.model.train()
    before = model_state(net)
    assert receptive_field(net, "layer4").stride == (32, 32)
    assert same_state(before, model_state(net))


def test_snapshot_leaves_the_model_alone(fashion_batch):
    net = odd_state(vk.load("fashion-cnn"), True)
    before = model_state(net)
    snap = take_snapshot(net, fashion_batch[0][:4].clamp(0, 1).double(), ["relu1", "relu3"], map_images=1)
    assert same_state(before, model_state(net))
    assert snap["maps"]["relu1"].shape == (1, 32, 28, 28)
