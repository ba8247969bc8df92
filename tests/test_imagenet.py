"""The ImageNet switch: "auto", True and False, offline and with a cache, the network check mocked; published weights
recognised by the sha256 prefix in the file's name."""

import hashlib
import time
import urllib.error

import pytest
import torch
import torchvision

import vizkit as vk
from vizkit import imagenet as switch
from vizkit.nets import checkpoint_path

SHOWS = "the lecture's picture"
URL = torchvision.models.get_model_weights("resnet18").DEFAULT.url


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    """A TORCH_HOME with nothing cached."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def no_network(monkeypatch):
    """Any network call fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the switch asked the network")
    monkeypatch.setattr(switch, "reachable", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture
def fake_download(monkeypatch):
    """download_url_to_file writes seeded stand-in weights; returns the calls' progress arguments."""
    calls = []

    def download(url, dst, hash_prefix=None, progress=True):
        calls.append(progress)
        torch.manual_seed(0)
        torch.save(torchvision.models.get_model("resnet18", weights=None).state_dict(), dst)
    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    return calls


@pytest.mark.parametrize("value, expected", [(None, "auto"), ("auto", "auto"), (" AUTO ", "auto"), (True, True),
                                             ("1", True), ("yes", True), (False, False), ("0", False),
                                             ("off", False)])
def test_setting_reads_the_notebook_value_or_the_environment(value, expected, monkeypatch):
    monkeypatch.delenv(switch.ENV, raising=False)
    assert vk.imagenet_setting(value) == expected
    monkeypatch.setenv(switch.ENV, "0")
    assert vk.imagenet_setting(None) is False
    monkeypatch.setenv(switch.ENV, "")
    assert vk.imagenet_setting(None) == "auto"


@pytest.mark.parametrize("value", ["maybe", 1, None])
def test_a_bad_setting_names_the_choices(value, monkeypatch):
    monkeypatch.setenv(switch.ENV, "sometimes")
    with pytest.raises(ValueError, match="'auto', True or False"):
        vk.imagenet_setting(value)


def test_bad_arguments_name_themselves(empty_home):
    with pytest.raises(KeyError, match="did you mean 'alexnet'"):
        vk.imagenet_section("alexnett", "auto", shows=SHOWS, seconds=1)
    with pytest.raises(KeyError, match="not a torchvision classifier"):
        vk.imagenet_section("fashion-cnn", "auto", shows=SHOWS, seconds=1)
    with pytest.raises(TypeError, match="shows"):
        vk.imagenet_section("alexnet", "auto", shows="", seconds=1)
    with pytest.raises(ValueError, match="seconds"):
        vk.imagenet_section("alexnet", "auto", shows=SHOWS, seconds=-1)


def test_false_skips_even_with_the_weights_cached(torch_home, no_network):
    section = vk.imagenet_section("resnet18", False, shows=SHOWS, seconds=5)
    assert section.net is None and not section.runs
    assert section.reason.startswith(f"Skipped: {SHOWS}") and "IMAGENET is False" in section.reason
    assert "downloads" not in section.reason   # cached: nothing to download


def test_auto_runs_from_the_cache_and_names_stand_in_weights(torch_home, no_network):
    section = vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=500)   # cached: runs however long
    assert isinstance(section.net, vk.Net) and section.net.name == "resnet18" and section.runs
    assert section.published is False
    assert section.reason.startswith(f"Running: {SHOWS}, on resnet18 (cached, about 8 min on a CPU); stand-in weights")
    assert "not meaningful" in str(section)


def test_auto_offline_skips_fast_in_one_line(empty_home, monkeypatch):
    monkeypatch.delenv("VIZKIT_OFFLINE", raising=False)
    asked = []

    def unreachable(request, timeout):
        asked.append((request.get_method(), request.full_url, timeout))
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr(switch.urllib.request, "urlopen", unreachable)
    start = time.perf_counter()
    section = vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=5, device="cpu")
    assert time.perf_counter() - start < 1
    assert asked == [("HEAD", URL, switch.TIMEOUT)]
    assert section.net is None and "\n" not in section.reason
    for part in (SHOWS, "45 MB", "about 5 s on a CPU", "download.pytorch.org cannot be reached",
                 "IMAGENET = True", "$VIZKIT_IMAGENET=1", checkpoint_path(URL).name):
        assert part in section.reason
    assert not checkpoint_path(URL).exists()


def test_auto_with_vizkit_offline_asks_no_network(empty_home, monkeypatch, no_network):
    monkeypatch.setenv("VIZKIT_OFFLINE", "1")
    section = vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=5, device="cpu")
    assert section.net is None and "VIZKIT_OFFLINE is set" in section.reason


def test_auto_skips_a_slow_cpu_section_without_asking_the_network(empty_home, no_network):
    section = vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=31, budget=30, device="cpu")
    assert section.net is None and "about 31 s on a CPU" in section.reason and "longer than the 30 s" in section.reason


def test_auto_downloads_a_quick_section_when_online(empty_home, monkeypatch, fake_download):
    monkeypatch.delenv("VIZKIT_OFFLINE", raising=False)
    monkeypatch.setattr(switch, "reachable", lambda url, timeout: url == URL)
    section = vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=5, device="cpu")
    assert section.runs and fake_download == [True]   # with a progress bar
    assert "(downloaded, about 5 s on a CPU); stand-in weights" in section.reason and checkpoint_path(URL).exists()


def test_auto_on_a_gpu_takes_a_slow_section(empty_home, monkeypatch):
    monkeypatch.delenv("VIZKIT_OFFLINE", raising=False)
    monkeypatch.setattr(switch, "default_device", lambda: torch.device("cuda"))
    monkeypatch.setattr(switch, "reachable", lambda url, timeout: True)
    loaded = []
    monkeypatch.setattr(switch, "load", lambda name, download, device: loaded.append((name, download, device))
                        or vk.load("fashion-cnn"))
    section = vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=500)
    assert section.runs and loaded == [("resnet18", True, torch.device("cuda"))]
    monkeypatch.setattr(switch, "reachable", lambda url, timeout: False)
    skipped = vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=500)
    assert skipped.net is None and "less on this GPU" in skipped.reason


def test_true_downloads_with_a_progress_bar(empty_home, monkeypatch, fake_download):
    monkeypatch.setenv("VIZKIT_OFFLINE", "1")   # True asks for it explicitly
    monkeypatch.setattr(switch, "reachable", lambda url, timeout: False)   # no check: True just downloads
    section = vk.imagenet_section("resnet18", True, shows=SHOWS, seconds=500, device="cpu")
    assert section.runs and fake_download == [True]


def test_true_says_why_when_the_download_fails(empty_home, monkeypatch):
    def fail(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    with pytest.raises(vk.WeightsUnavailableError, match="download failed"):
        vk.imagenet_section("resnet18", True, shows=SHOWS, seconds=5, device="cpu")


def test_reachable_gives_up_on_a_hanging_lookup(monkeypatch):
    class Answer:
        status = 200

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False
    monkeypatch.setattr(switch.urllib.request, "urlopen", lambda request, timeout: Answer())
    assert switch.reachable(URL, 1.0)
    monkeypatch.setattr(switch.urllib.request, "urlopen", lambda request, timeout: time.sleep(3))
    start = time.perf_counter()
    assert not switch.reachable(URL, 0.2)
    assert time.perf_counter() - start < 1


def test_a_file_is_published_when_its_sha256_starts_with_the_prefix_in_its_name(tmp_path):
    data = b"weights"
    prefix = hashlib.sha256(data).hexdigest()[:8]
    good = tmp_path / f"net-owt-{prefix}.pth"
    good.write_bytes(data)
    assert switch.file_is_published(good)
    bad = tmp_path / "net-0000abcd.pth"
    bad.write_bytes(data)
    plain = tmp_path / "net.pth"
    plain.write_bytes(data)
    assert not switch.file_is_published(bad) and not switch.file_is_published(plain)
    assert not switch.file_is_published(tmp_path / f"missing-{prefix}.pth")
    good.write_bytes(b"changed")   # a new version of the file is hashed again
    assert not switch.file_is_published(good)


def test_published_weights_of_stand_ins_and_of_the_published_file(torch_home, no_network, monkeypatch):
    assert vk.published_weights("resnet18") is False
    net = vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=5).net
    assert vk.published_weights(net) is False
    seen = []
    monkeypatch.setattr(switch, "file_is_published", lambda path: seen.append(path) or True)
    section = vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=5)
    assert section.published and "the published weights" in section.reason
    assert seen == [checkpoint_path(URL)]


def test_size_feeds_the_same_network_smaller_images(torch_home, no_network):
    full = vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=5).net
    small = vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=5, size=64).net
    assert full.input_size == (224, 224) and small.input_size == (64, 64) and small.name == "resnet18"
    assert small.layers == full.layers and small.classes == full.classes and small.mean == full.mean
    assert torch.equal(small.model.conv1.weight, full.model.conv1.weight)
    assert small.preprocess(vk.sample_image("china")).shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="size"):
        vk.imagenet_section("resnet18", "auto", shows=SHOWS, seconds=5, size=8)


@pytest.mark.parametrize("seconds, words", [(0, "0 s"), (31, "31 s"), (119, "119 s"), (120, "2 min"), (500, "8 min"),
                                            (7199, "120 min"), (7200, "2 h"), (20000, "6 h")])
def test_a_wait_reads_in_seconds_minutes_or_hours(seconds, words):
    assert switch.duration(seconds) == words
