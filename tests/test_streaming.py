"""Streamed inference gives the whole-image result in bounded memory."""

import copy
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import random_image
from PIL import Image

from imgtrans.blocks import init_weights
from imgtrans.inference.translate import InferenceOptions, Translator


def network(registry, family, **options):
    fam = registry.family(family)
    torch.manual_seed(0)
    net = init_weights(fam.build_generator(fam.make_config(options)))
    config = fam.make_config(options)
    return net, fam.pad_multiple(config), fam.min_side(config)


@pytest.fixture(params=["resnet-instance", "resnet-affine", "unet-dropout-seeded", "unet-no-dropout", "unet-eval"])
def case(request, registry):
    kind = request.param
    if kind.startswith("resnet"):
        net, multiple, minimum = network(registry, "cyclegan", netG="resnet_6blocks", ngf=8,
                                         norm_affine=kind.endswith("affine"))
        if kind.endswith("affine"):  # trained-looking scales and shifts, not the initial 1 and 0
            for m in net.modules():
                if isinstance(m, torch.nn.InstanceNorm2d):
                    m.weight.data.uniform_(0.5, 1.5)
                    m.bias.data.uniform_(-0.5, 0.5)
        return net, multiple, minimum, {}
    net, multiple, minimum = network(registry, "pix2pix", netG="unet_64", ngf=8)
    options = {"unet-dropout-seeded": {"seed": 4}, "unet-no-dropout": {"dropout": False},
               "unet-eval": {"eval_mode": True}}[kind]
    return net, multiple, minimum, options


def translate(case, pictures, **extra):
    net, multiple, minimum, options = case
    translator = Translator(copy.deepcopy(net), device=torch.device("cpu"), pad_multiple=multiple, min_side=minimum,
                            options=InferenceOptions(**options, **extra))
    return translator(pictures), translator


@pytest.mark.slow
@pytest.mark.parametrize("size", [(37, 23), (1, 9), (50, 1), (3, 3), (70, 66)])
def test_streamed_equals_whole_image(case, size):
    h, w = size
    rng = np.random.default_rng(h * 100 + w)
    pictures = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(2)]  # a batch of two
    whole, _ = translate(case, pictures, stream=False)
    for budget in (1 << 12, 1 << 20):  # 1-row strips with every map on disk; a few strips in RAM
        streamed, translator = translate(case, pictures, stream=True, max_memory=budget)
        assert translator.last_streamed
        for a, b in zip(whole, streamed):
            diff = np.abs(a.astype(int) - b.astype(int))
            mse = (diff.astype(float) ** 2).mean()
            assert diff.max() <= 1, (size, budget)
            assert mse == 0 or 10 * np.log10(255**2 / mse) >= 50


def test_small_budget_spills_and_stays_within_it(registry):
    net, multiple, minimum = network(registry, "cyclegan", netG="resnet_6blocks", ngf=8)
    picture = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    translator = Translator(net, device=torch.device("cpu"), pad_multiple=multiple, min_side=minimum,
                            options=InferenceOptions(stream=True, max_memory=200_000))
    translator([picture])
    plan = translator.last_plan
    assert plan.spilled_bytes > 0
    assert plan.peak_stored_ram <= plan.store_budget
    assert plan.strip_rows(plan.output) < plan.output.height  # more than one strip


def test_temporary_maps_are_gone_after_success_error_and_interrupt(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    net, multiple, minimum = network(registry, "cyclegan", netG="resnet_6blocks", ngf=8)
    picture = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    fds = len(os.listdir("/proc/self/fd"))

    def run(fail: type[BaseException] | None):
        translator = Translator(copy.deepcopy(net), device=torch.device("cpu"), pad_multiple=multiple,
                                min_side=minimum, options=InferenceOptions(stream=True, max_memory=100_000))
        if fail is not None:
            from imgtrans.streaming import executor

            original = executor.StreamPlan._materialise
            calls = []

            def failing(self, *args):
                calls.append(1)
                if len(calls) == 3:
                    raise fail()
                return original(self, *args)

            monkeypatch.setattr(executor.StreamPlan, "_materialise", failing)
        try:
            translator([picture])
        finally:
            monkeypatch.undo()
            monkeypatch.setenv("TMPDIR", str(tmp_path))

    run(None)
    with pytest.raises(RuntimeError):
        run(RuntimeError)
    with pytest.raises(KeyboardInterrupt):
        run(KeyboardInterrupt)
    assert len(os.listdir("/proc/self/fd")) == fds  # every spilled map's file closed
    assert [p for p in tmp_path.iterdir() if p.name.startswith("imgtrans-map-")] == []


@pytest.mark.slow
def test_streaming_bounds_peak_memory(tmp_path):
    """Peak RSS of a 4 MP picture: whole-image vs streamed with a 64 MB budget."""
    script = textwrap.dedent("""
        import sys, numpy as np, torch
        sys.path.insert(0, "plugins")
        from imgtrans_cyclegan.networks import ResnetGenerator
        from imgtrans.inference.translate import InferenceOptions, Translator
        torch.manual_seed(0)
        net = ResnetGenerator(ngf=8, n_blocks=6)
        picture = np.random.default_rng(0).integers(0, 256, (2000, 2000, 3), dtype=np.uint8)
        def status(key):  # VmHWM is this process's own peak (ru_maxrss survives fork and exec)
            for line in open("/proc/self/status"):
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current size
        before = status("VmRSS")
        stream = sys.argv[1] == "stream"
        Translator(net, device=torch.device("cpu"), pad_multiple=4, min_side=8,
                   options=InferenceOptions(stream=stream, max_memory=64 << 20))([picture])
        print(status("VmHWM") - before)
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    growth = {}
    for mode in ("stream", "whole"):
        done = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, cwd=root)
        assert done.returncode == 0, done.stderr
        growth[mode] = int(done.stdout)
    # the picture in and out is 24 MB; the budget 64 MB; torch's own buffers a little more
    assert growth["stream"] < 160 << 20, growth
    assert growth["whole"] > 3 * growth["stream"], growth


def test_cli_max_memory_and_max_pixels(cli, tiny_cyclegan, tmp_path):
    random_image(tmp_path / "big.png", size=(300, 200))
    random_image(tmp_path / "small.png", size=(30, 20))
    whole = cli("run", tiny_cyclegan, "big.png", "-o", "whole")
    streamed = cli("run", tiny_cyclegan, "big.png", "-o", "streamed", "--max-memory", "16MB")
    assert whole.exit_code == 0 and streamed.exit_code == 0, streamed.stderr
    with Image.open(tmp_path / "whole" / "big.png") as a, Image.open(tmp_path / "streamed" / "big.png") as b:
        assert np.abs(np.asarray(a, int) - np.asarray(b, int)).max() <= 1

    refused = cli("run", tiny_cyclegan, "big.png", "small.png", "-o", "limited", "--max-pixels", "50000")
    assert refused.exit_code == 1
    assert "big.png: image too large (300x200 = 60000 pixels" in refused.stderr and "--max-pixels" in refused.stderr
    assert (tmp_path / "limited" / "small.png").is_file() and not (tmp_path / "limited" / "big.png").exists()

    bad = cli("run", tiny_cyclegan, "small.png", "--max-memory", "a lot")
    assert bad.exit_code == 2 and "bad memory size 'a lot'" in bad.stderr


def test_precision_is_refused_with_the_reason(cli, tmp_path, tiny_cyclegan):
    import imgtrans
    from imgtrans.inference.precision import choose, cpu_has_native_bf16

    cpu = torch.device("cpu")
    with pytest.raises(imgtrans.OptionError, match="fp16 needs a CUDA or MPS device"):
        imgtrans.load("vintage", device="cpu", precision="fp16")
    with pytest.raises(imgtrans.OptionError, match="only 31.0 dB PSNR against fp32"):
        choose("bf16", cpu, {"bf16": 31.0}, "lossy")
    assert choose("auto", cpu, {"bf16": 44.9}, "m") == "fp32"  # auto needs 45 dB
    assert choose("auto", cpu, {}, "unmeasured") == "fp32"
    if cpu_has_native_bf16():
        assert choose("auto", cpu, {"bf16": 55.0}, "m") == "bf16"
        assert imgtrans.load("vintage", device="cpu").precision == "bf16"
    else:
        with pytest.raises(imgtrans.OptionError, match="no native bf16"):
            choose("bf16", cpu, {}, "m")
    random_image(tmp_path / "in.png")
    refused = cli("run", tiny_cyclegan, "in.png", "--precision", "fp16")
    assert refused.exit_code == 2 and "fp16 needs a CUDA or MPS device" in refused.stderr


class PluginBlock(torch.nn.Module):
    """A third-party-style module: its own class, a residual sum and a channel concatenation."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(channels, channels, 3),
                                        torch.nn.InstanceNorm2d(channels, affine=True), torch.nn.LeakyReLU(0.2))

    def forward(self, x):
        return torch.cat([x + self.body(x), x], 1)


def test_a_plugins_own_network_streams_exactly():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.InstanceNorm2d(6), PluginBlock(6),
                              torch.nn.Conv2d(12, 12, 4, stride=2, padding=1), torch.nn.BatchNorm2d(12),
                              torch.nn.ConvTranspose2d(12, 3, 4, stride=2, padding=1), torch.nn.Sigmoid())
    picture = np.random.default_rng(3).integers(0, 256, (45, 38, 3), dtype=np.uint8)

    def run(stream):
        translator = Translator(copy.deepcopy(net), device=torch.device("cpu"), pad_multiple=2,
                                options=InferenceOptions(stream=stream, max_memory=1 << 13))
        return translator([picture])[0].astype(int), translator

    whole, _ = run(False)
    streamed, translator = run(True)
    assert translator.last_streamed and translator.last_plan.spilled_bytes > 0
    assert np.abs(whole - streamed).max() <= 1


def test_video_statistics_stream_like_the_whole_picture():
    """A video frame too large for the budget records the same statistics
    streamed, and translates the same with imposed ones (another frame's)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.InstanceNorm2d(6), torch.nn.ReLU(),
                              torch.nn.Conv2d(6, 12, 4, stride=2, padding=1), torch.nn.BatchNorm2d(12),
                              torch.nn.ConvTranspose2d(12, 3, 4, stride=2, padding=1), torch.nn.Sigmoid())
    rng = np.random.default_rng(5)
    frames = torch.from_numpy(rng.integers(0, 256, (2, 3, 40, 36), dtype=np.uint8))
    runs = {}
    for stream in (False, True):
        translator = Translator(copy.deepcopy(net), device=torch.device("cpu"), pad_multiple=2,
                                options=InferenceOptions(stream=stream, max_memory=1 << 13))
        own: list = [{}, {}]
        translator.run(frames, [0, 0], to_uint8=True, record=own)
        held = translator.run(frames, [0, 0], to_uint8=True, impose=[own[0], own[0]])
        runs[stream] = own, held.numpy().astype(int)
        assert translator.last_streamed == stream
    (own_whole, held_whole), (own_streamed, held_streamed) = runs[False], runs[True]
    for whole, streamed in zip(own_whole, own_streamed):
        assert whole.keys() == streamed.keys() == {1, 2}
        assert all(torch.allclose(whole[k][i], streamed[k][i], rtol=1e-5, atol=1e-6) for k in whole for i in (0, 1))
    assert np.abs(held_whole - held_streamed).max() <= 1
    assert not np.array_equal(held_whole[0], held_whole[1])  # same statistics, different frames


def test_progress_rises_to_one_and_raising_in_it_stops_a_streamed_picture(registry):
    net, multiple, minimum = network(registry, "cyclegan", netG="resnet_6blocks", ngf=8)
    picture = np.random.default_rng(0).integers(0, 256, (70, 66, 3), dtype=np.uint8)
    translator = Translator(net, device=torch.device("cpu"), pad_multiple=multiple, min_side=minimum,
                            options=InferenceOptions(stream=True, max_memory=1 << 14))
    heard: list[float] = []
    translator([picture], progress=heard.append)
    assert translator.last_streamed and heard == sorted(heard) and heard[-1] == 1.0 and len(heard) > 10

    class Stop(Exception):
        pass

    def stop_halfway(fraction: float) -> None:
        if fraction > 0.5:
            raise Stop

    with pytest.raises(Stop):
        translator([picture], progress=stop_halfway)
    assert translator([picture]) is not None  # the translator is still usable afterwards
