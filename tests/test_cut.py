"""The CUT family: the authors' checkpoint layouts, PatchNCE on tiny tensors,
streamed and ONNX inference of the antialiased generator, the catalogue's
archive download, and training (presets, lazy heads, exact resume)."""

import copy
import hashlib
import http.server
import io
import json
import math
import os
import signal
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import random_image
from PIL import Image
from safetensors.torch import load_file
from test_training import wait_for_checkpoint
from test_video import write_clip

import imgtrans
from imgtrans.checkpoints import store
from imgtrans.checkpoints.detection import TensorMeta, choose, detect_shapes
from imgtrans.inference.translate import InferenceOptions, Translator

KEYS = json.loads((Path(__file__).parent / "data" / "cut_generator_keys.json").read_text())
TINY = ["--family", "cut", "--ngf", "4", "--ndf", "4", "--n-layers-D", "2", "--netG", "resnet_2blocks",
        "--nce-layers", "0,4,8,12", "--num-patches", "16", "--netF-nc", "8", "--load-size", "36", "--crop-size", "32",
        "--save-every", "3", "--sample-every", "4"]


def losses(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]


def generator(registry, **options):
    family = registry.family("cut")
    return family.build_generator(family.make_config(options))


@pytest.mark.parametrize("case", [k for k in KEYS if not k.startswith("_")])
def test_generator_has_the_authors_names_and_shapes(registry, case):
    """tests/data/cut_generator_keys.json is the authors' own network's state dict, built on the meta device."""
    options = dict(KEYS[case]["options"])
    with torch.device("meta"):
        ours = generator(registry, **options).state_dict()
    assert [(k, list(v.shape)) for k, v in ours.items()] == list(KEYS[case]["tensors"].items())


def test_official_layout_is_detected_as_the_catalogue_config(registry):
    shapes = {k: TensorMeta(tuple(v), "float32") for k, v in KEYS["official"]["tensors"].items()}
    report = detect_shapes(registry, shapes)
    found = choose(report, "latest_net_G.pth")
    assert found.family == "cut" and not report.unsupported  # the cyclegan detector's "unsupported" is overruled
    official = [spec for spec in registry.models.values() if spec.family == "cut" and spec.weights.url]
    assert len(official) == 6
    for spec in official:
        config = registry.family("cut").make_config(spec.config)
        assert {k: found.config[k] for k in spec.config} == spec.config
        assert found.config["no_antialias"] is config.no_antialias is False
        assert spec.weights.member.endswith("_pretrained/latest_net_G.pth")


def test_a_cyclegan_layout_stays_cyclegan(registry):
    """Without blur filters the layout is CycleGAN's generator: CUT does not claim it."""
    state = registry.family("cyclegan").build_generator(registry.family("cyclegan").make_config({"ngf": 4}))
    report = detect_shapes(registry, {k: TensorMeta(tuple(v.shape), "float32") for k, v in state.state_dict().items()})
    assert [d.family for d in report.detections] == ["cyclegan"]


def test_patch_nce_known_answer():
    from imgtrans_cut.patchnce import patch_nce

    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    got = patch_nce(q, k, batch_size=1, temperature=0.5)
    # Row i: logits [q_i.k_i, q_i.k_j (j != i), -10 for j == i] / T, target 0.
    rows = [[1.0, -10.0, 0.0, 0.0], [1.0, 0.0, -10.0, 1.0], [0.8, 0.6, 0.8, -10.0]]
    expected = [-math.log(math.exp(r[0] / 0.5) / sum(math.exp(x / 0.5) for x in r)) for r in rows]
    assert torch.allclose(got, torch.tensor(expected), atol=1e-6)
    # Two images of one patch each: with per-image negatives only the masked self-pair is left.
    per_image = patch_nce(q[:2], k[:2], batch_size=2, temperature=0.5)
    assert torch.allclose(per_image, torch.full((2,), -math.log(math.exp(2) / (math.exp(2) + math.exp(-20)))),
                          atol=1e-6)
    pooled = patch_nce(q[:2], k[:2], batch_size=2, temperature=0.5, all_negatives=True)  # the other image's too
    assert torch.allclose(pooled, torch.full((2,), -math.log(math.exp(2) / (math.exp(2) + math.exp(-20) + 1))),
                          atol=1e-6)
    q.requires_grad_(True)
    k.requires_grad_(True)
    patch_nce(q, k, batch_size=1, temperature=0.07).sum().backward()
    assert q.grad.abs().sum() > 0 and k.grad is None  # the keys are targets


def test_heads_sample_the_same_places_in_query_and_key():
    from imgtrans_cut.patchnce import PatchHeads, draw_patch_ids

    features = [torch.randn(2, 3, 4, 5), torch.randn(2, 6, 2, 2)]
    ids = draw_patch_ids(features, 8, torch.Generator().manual_seed(0))
    assert [len(i) for i in ids] == [8, 4] and len(set(ids[0].tolist())) == 8  # all 4 of the 2x2 map
    heads = PatchHeads([3, 6], units=5)
    out = heads(features, ids)
    assert [tuple(o.shape) for o in out] == [(16, 5), (8, 5)]
    assert torch.allclose(out[0].norm(dim=1), torch.ones(16), atol=1e-5)
    h, w = divmod(int(ids[0][1]), 5)
    expected = heads.mlp_0(features[0][1, :, h, w])  # image 1, second patch
    assert torch.allclose(out[0][8 + 1], expected / (expected.norm() + 1e-7), atol=1e-6)


@pytest.mark.parametrize("options", [{}, {"no_antialias": True}, {"no_antialias_up": True, "norm": "batch"}])
def test_streamed_equals_whole_image(registry, options):
    """The blur filters are functional depthwise convolutions on stored buffers: the plan runs them in strips."""
    from imgtrans.blocks import init_weights

    torch.manual_seed(0)
    net = init_weights(generator(registry, netG="resnet_2blocks", ngf=4, **options)).eval()
    for size in ((45, 38), (8, 9)):
        pictures = [np.random.default_rng(size[0]).integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(2)]
        x = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2)
        runs = {}
        for budget in (None, 1 << 14, 1 << 20):  # strips of a few rows with maps spilled to disk; maps in RAM
            translator = Translator(copy.deepcopy(net), device=torch.device("cpu"), pad_multiple=4, min_side=8,
                                    options=InferenceOptions(stream=budget is not None, max_memory=budget))
            runs[budget] = translator.run(x, [0, 0], to_uint8=False).float()
            assert translator.last_streamed == (budget is not None)
        for budget in (1 << 14, 1 << 20):
            # statistics merged in float64 over strips: float rounding, as for the other families
            assert (runs[None] - runs[budget]).abs().max() < 1e-5, (options, size, budget)


def authors_file(registry, path: Path, seed=0, **options) -> Path:
    """A checkpoint as the authors' train.py saves it: the bare generator state dict (blur filters included)."""
    from imgtrans_cut.recipe import initialise

    torch.manual_seed(seed)
    torch.save(initialise(generator(registry, **options), "xavier").state_dict(), path)
    return path


@pytest.mark.slow
def test_authors_checkpoint_runs_streamed_and_whole(cli, registry, tmp_path):
    path = authors_file(registry, tmp_path / "latest_net_G.pth", netG="resnet_2blocks", ngf=4)
    random_image(tmp_path / "big.png", size=(600, 400))
    whole = cli("run", path, "big.png", "-o", "whole", "--json")
    streamed = cli("run", path, "big.png", "-o", "streamed", "--max-memory", "16MB", "--json")
    assert whole.exit_code == 0 and streamed.exit_code == 0, streamed.stderr
    assert '"streamed": false' in whole.stdout and '"streamed": true' in streamed.stdout
    with Image.open(tmp_path / "whole" / "big.png") as a, Image.open(tmp_path / "streamed" / "big.png") as b:
        assert np.abs(np.asarray(a, int) - np.asarray(b, int)).max() <= 1


@pytest.mark.slow
def test_onnx_matches_imgtrans(registry, tmp_path):
    import onnxruntime

    path = authors_file(registry, tmp_path / "g.pth", netG="resnet_2blocks", ngf=8)
    model = imgtrans.load(path, device="cpu", precision="fp32")
    exported = model.to_onnx(tmp_path / "g.onnx")
    x = torch.rand(2, 3, 44, 36)
    theirs = onnxruntime.InferenceSession(str(exported)).run(None, {"image": x.numpy()})[0]
    assert np.abs(model(x).numpy() - theirs).max() < 1e-4


class ArchiveHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        if not self.path.endswith("/CUT/pretrained_models.tar"):
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_catalogue_model_comes_out_of_the_authors_archive(cli, registry, tmp_path):
    """The authors' one tar of all models, served on 127.0.0.1 as the mirror: only the named member is taken."""
    full = authors_file(registry, tmp_path / "g.pth")  # their published architecture: ResNet-9, ngf 64
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(full, "./checkpoints/horse2zebra_cut_pretrained/latest_net_G.pth")
        tar.add(full, "checkpoints/horse2zebra_fastcut_pretrained/latest_net_G.pth")
        link = tarfile.TarInfo("checkpoints/cat2dog_cut_pretrained/latest_net_G.pth")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    ArchiveHandler.body = buffer.getvalue()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ArchiveHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mirror = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        pulled = cli("weights", "pull", "horse2zebra_cut", "--mirror", mirror)
        assert pulled.exit_code == 0, pulled.stderr
        refused = cli("weights", "pull", "cat2dog_cut", "--mirror", mirror)
        assert refused.exit_code == 2 and "not a regular file" in refused.stderr
        missing = cli("weights", "pull", "cityscapes_label2photo_cut", "--mirror", mirror)
        assert missing.exit_code == 2 and "the archive has no checkpoints/cityscapes_cut_pretrained" in missing.stderr
    finally:
        server.shutdown()
    info = json.loads(cli("info", "horse2zebra_cut", "--json").stdout)
    assert info["source_sha256"] == hashlib.sha256(full.read_bytes()).hexdigest()  # the member's, not the tar's
    assert sorted(p.name for p in store.cache_dir().iterdir()) == ["horse2zebra_cut.safetensors"]
    x = torch.rand(1, 3, 16, 16)
    reference = imgtrans.load(full, device="cpu", precision="fp32")(x)
    assert torch.equal(imgtrans.load("horse2zebra_cut", device="cpu", precision="fp32")(x), reference)


def test_presets_and_print_config(cli):
    def config(*args):
        result = cli("train", "--family", "cut", *args, "--print-config")
        assert result.exit_code == 0, result.stderr
        return dict(line.split(" = ", 1) for line in result.stdout.splitlines() if " = " in line)

    cut, fast = config(), config("--preset", "fastcut")
    assert (cut["nce_idt"], cut["lambda_nce"], cut["flip_equivariance"]) == ("true", "1.0", "false")
    assert (cut["epochs"], cut["epochs_decay"], cut["gan_mode"]) == ("200", "200", '"lsgan"')
    assert (fast["nce_idt"], fast["lambda_nce"], fast["flip_equivariance"]) == ("false", "10.0", "true")
    assert (fast["epochs"], fast["epochs_decay"], fast["num_patches"], fast["nce_temperature"]) == ("150", "50", "256",
                                                                                                    "0.07")
    assert config("--preset", "fastcut", "--lambda-nce", "2", "--nce-idt")["lambda_nce"] == "2.0"
    assert config("--preset", "fastcut", "--nce-idt")["nce_idt"] == "true"  # given options win over the preset
    bad = cli("train", "--family", "cut", "--nce-layers", "0,99", "--print-config")
    assert bad.exit_code == 2 and "nce_layers must name layers 0 to 31" in bad.stderr


def test_train_fastcut_publishes_and_runs(cli, unaligned, tmp_path):
    result = cli("train", *TINY, "--preset", "fastcut", "--data", unaligned, "--name", "fast", "--epochs", "1",
                 "--epochs-decay", "1")
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "runs" / "fast"
    records = losses(run)
    assert [r["step"] for r in records] == list(range(1, 9))
    assert {"D_real", "D_fake", "G_GAN", "NCE"} <= set(records[0]) and "NCE_Y" not in records[0]
    assert (run / "losses.png").is_file() and (run / "samples" / "step-00000004.png").is_file()
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    tensors = load_file(run / "checkpoints" / f"{latest['stem']}.safetensors")
    assert {k.split(".")[0] for k in tensors} == {"G", "D", "F"}
    # the heads, made from the first example's features: layers 0, 4, 8, 12 have 3, 8, 16, 16 channels
    assert [tuple(tensors[f"F.mlp_{i}.0.weight"].shape) for i in range(4)] == [(8, 3), (8, 8), (8, 16), (8, 16)]
    assert "G.model.7.filt" in tensors and "D.model.2.filt" in tensors
    state = torch.load(run / "checkpoints" / f"{latest['stem']}.state.pt", weights_only=True)
    assert set(state["optimizers"]) == {"G", "D"}
    g_params = sum(1 for k in tensors if k.startswith(("G.", "F.")) and not k.endswith("filt"))
    assert len(state["optimizers"]["G"]["state"]) == g_params  # the heads are stepped with the generator
    assert state["recipe"]["sampling_rng"].dtype == torch.uint8
    random_image(tmp_path / "x.png", size=(30, 20))
    ran = cli("run", "fast", "x.png", "-o", "out")
    assert ran.exit_code == 0, ran.stderr
    assert Image.open(tmp_path / "out" / "x.png").size == (30, 20)


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(cli, unaligned, tmp_path):
    """CUT (identity PatchNCE) and FastCUT (flips) killed mid-run: the heads, their Adam state and the
    patch and flip draws resume, so the weights end bit-identical."""
    for preset, workers in (("cut", "0"), ("fastcut", "2")):  # FastCUT's killed run reads its data in 2 workers
        args = [*TINY, "--preset", preset, "--data", str(unaligned), "--epochs", "2", "--epochs-decay", "2"]
        assert cli("train", *args, "--name", f"{preset}-whole").exit_code == 0
        killed = [*args, "--name", f"{preset}-killed", "--workers", workers]
        process = subprocess.Popen([sys.executable, "-m", "imgtrans", "train", *killed], cwd=tmp_path,
                                   env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for_checkpoint(tmp_path / "runs" / f"{preset}-killed", process, minimum=6)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert len(losses(tmp_path / "runs" / f"{preset}-killed")) < 16, "the run finished before it could be killed"
        resumed = cli("train", "--resume", tmp_path / "runs" / f"{preset}-killed", "--workers", workers)
        assert resumed.exit_code == 0, resumed.stderr
        whole = load_file(tmp_path / "runs" / f"{preset}-whole" / "checkpoints" / "step-00000016.safetensors")
        again = load_file(tmp_path / "runs" / f"{preset}-killed" / "checkpoints" / "step-00000016.safetensors")
        assert whole.keys() == again.keys()
        for key in whole:
            assert torch.equal(whole[key], again[key]), (preset, key)


@pytest.mark.slow
def test_two_gloo_processes_and_bf16(cli, unaligned, tmp_path):
    from imgtrans.inference.precision import cpu_has_native_bf16

    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "imgtrans", "train", *TINY, "--data", str(unaligned), "--name", "ddp", "--epochs",
                             "1", "--epochs-decay", "1"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_identical"] is True and summary["step"] == 4
    if cpu_has_native_bf16():
        reduced = cli("train", *TINY, "--data", unaligned, "--name", "bf16", "--max-steps", "3", "--precision", "bf16")
        assert reduced.exit_code == 0, reduced.stderr
        assert all(math.isfinite(v) for r in losses(tmp_path / "runs" / "bf16") for k, v in r.items() if k != "lr")


def test_a_video_runs_through_a_cut_generator(cli, registry, tmp_path):
    import av

    path = authors_file(registry, tmp_path / "latest_net_G.pth", netG="resnet_2blocks", ngf=4)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    write_clip(tmp_path / "clip.mp4", frames, audio=False)
    result = cli("run", path, "clip.mp4", "-o", "out")
    assert result.exit_code == 0, result.stderr
    with av.open(str(tmp_path / "out" / "clip.mp4")) as written:
        frames = [f.to_ndarray(format="rgb24") for f in written.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (48, 64, 3)
