"""ImageNet-scale training (selrob.training.data_parallel, selrob.data.streaming): two gloo
processes equal one process on the same global batch, a killed job resumes to the same result,
checkpoints load as data, the finished model is a zoo model.

The test network has no BatchNorm: BatchNorm statistics are per process under DDP (as in the
robustness library), which makes two processes a different computation from one. Without it the
two runs differ only in the order of the gradient all-reduce's float sums: weights agree to 1e-5.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from selrob.data.streaming import (IMAGENET_PCA_EIGVAL, IMAGENET_PCA_EIGVEC, EpochShardSampler, ImageFolderSet,
                                   lighting, sample_seed)
from selrob.errors import SelrobError
from selrob.io import load_torch, read_json
from selrob.training.data_parallel import ImageNetTrainConfig, register_target, train_imagenet
from selrob.zoo import entries, weights
from selrob.zoo.networks import build_network
from selrob.zoo.sources import zoo_model

CLASSES = ("n01", "n02", "n03")
#: A tiny robust run: 2-step L2 PGD, global batch 4, 16-pixel crops.
TINY = dict(epochs=3, batch_size=4, lr=0.05, lr_step=2, epsilon=0.5, step_size=0.25, steps=2, crop=16, resize=20)
SCRIPT = '''
import sys, time, torch
from torch import nn
from selrob.training.data_parallel import ImageNetTrainConfig, train_imagenet

class Tiny(nn.Module):
    def __init__(self, pause):
        super().__init__()
        self.pause = pause
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(8, 3))
    def forward(self, x):
        time.sleep(self.pause)  # a window in which the resume test can kill the job
        return self.net(x)

data, out, epochs, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
config = ImageNetTrainConfig("alexnet", "robust", **{**%r, "epochs": epochs})
train_imagenet(config, data, out, device="cpu", workers=0, progress=False, network=lambda: Tiny(pause))
'''


def _write_folder(root: Path, per_class: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 64, (24, 28, 3)) + 64 * label  # classes differ in brightness
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{name}_{index}.png")


@pytest.fixture(scope="module")
def imagenet_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imagenet")
    _write_folder(root / "train", 4, 0)  # 12 images: 3 global batches of 4 per epoch
    _write_folder(root / "val", 2, 1)
    return root


def _train(data: Path, out: Path, processes: int, epochs: int = 3, pause: float = 0.0,
           wait: bool = True, torchrun: bool | None = None, bf16: bool = False) -> subprocess.Popen[bytes]:
    """Train the tiny network in ``processes`` processes, under torchrun (default: when more than one)."""
    script = out.parent / "train_tiny.py"
    script.write_text(SCRIPT % (TINY,))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"] \
        if (processes > 1 if torchrun is None else torchrun) else [sys.executable]
    # The same threads in every process: the same float sums. SELROB_BF16=1: CUDA's bf16 path, here.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SELROB_BF16": "1" if bf16 else "0"}
    process = subprocess.Popen([*launcher, str(script), str(data), str(out), str(epochs), str(pause)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if wait:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output.decode()[-3000:]
    return process


def test_each_process_reads_its_share_of_every_global_batch() -> None:
    one = list(EpochShardSampler(10, 0, 1, seed=3, shuffle=True, global_batch=4))
    shards = [list(EpochShardSampler(10, rank, 2, seed=3, shuffle=True, global_batch=4)) for rank in (0, 1)]
    assert len(one) == 8 and all(epoch == 0 for _, epoch in one)  # whole global batches only
    for batch in range(2):
        together = {index for shard in shards for index, _ in shard[2 * batch:2 * batch + 2]}
        assert together == {index for index, _ in one[4 * batch:4 * batch + 4]}
    sampler = EpochShardSampler(10, 0, 1, seed=3, shuffle=True, global_batch=4)
    sampler.set_epoch(1)
    assert [i for i, _ in sampler] != [i for i, _ in one]
    assert [i for i, _ in EpochShardSampler(5, 1, 2, seed=0, shuffle=False)] == [1, 3]


def test_augmentation_depends_on_seed_epoch_and_image_alone(imagenet_folder: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    train = ImageFolderSet(imagenet_folder / "train", True, seed=0, crop=16, resize=20)
    assert train.classes == list(CLASSES) and len(train) == 12
    # Drawing an image's augmentation leaves the global CPU generator as it was and reseeds no GPU's.
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: pytest.fail("a GPU generator was reseeded"))
    state = torch.get_rng_state()
    image, label = train[(5, 2)]
    assert torch.equal(torch.get_rng_state(), state)
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32 and -0.1 < image.min() < image.max() < 1.1
    assert label == 1 and torch.equal(train[(5, 2)][0], image)
    assert not torch.equal(train[(5, 3)][0], image)
    val = ImageFolderSet(imagenet_folder / "val", False, crop=16, resize=20)
    assert torch.equal(val[(0, 0)][0], val[(0, 7)][0])  # no augmentation: the epoch does not matter
    with pytest.raises(SelrobError, match="holds no images"):
        ImageFolderSet(imagenet_folder / "train" / "n01", True)


def test_augmentation_is_the_robustness_librarys_imagenet_recipe(imagenet_folder: Path) -> None:
    """torchvision's RandomResizedCrop, flip and ColorJitter(0.1, 0.1, 0.1), then the library's
    Lighting(0.05) written as it is there (row sums of eigvec x alpha x eigval), all drawn from
    the global generator seeded by the image's seed."""
    train = ImageFolderSet(imagenet_folder / "train", True, seed=3, crop=16, resize=20)
    torch.manual_seed(sample_seed(3, 1, 7))
    with Image.open(train.path(7)) as opened:
        image = opened.convert("RGB")
    jittered = transforms.Compose([transforms.RandomResizedCrop(16), transforms.RandomHorizontalFlip(),
                                   transforms.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1),
                                   transforms.ToTensor()])(image)
    alpha = jittered.new().resize_(3).normal_(0, 0.05)
    rgb = (IMAGENET_PCA_EIGVEC.mul(alpha.view(1, 3)).mul(IMAGENET_PCA_EIGVAL.view(1, 3))).sum(1)
    torch.testing.assert_close(train[(7, 1)][0], jittered + rgb.view(3, 1, 1), rtol=0, atol=1e-6)
    # Known answer: a unit draw along the first component shifts every pixel by 0.2175 x its eigenvector.
    shifted = lighting(torch.zeros(3, 2, 2), torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(shifted[:, 1, 1], 0.2175 * torch.tensor([-0.5675, -0.5808, -0.5836]))
    assert torch.equal(shifted[:, 0, 0], shifted[:, 1, 1])


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_and_a_killed_job_resumes(imagenet_folder: Path, tmp_path: Path) -> None:
    _train(imagenet_folder, tmp_path / "one", 1)
    _train(imagenet_folder, tmp_path / "two", 2)
    one, two = load_torch(tmp_path / "one" / "final.pt"), load_torch(tmp_path / "two" / "final.pt")
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=1e-5)
    history_one = load_torch(tmp_path / "one" / "last.pt")["history"]
    history_two = load_torch(tmp_path / "two" / "last.pt")["history"]
    assert [row["epoch"] for row in history_two] == [0, 1, 2] and [row["lr"] for row in history_two] == pytest.approx([0.05, 0.05, 0.005])
    for a, b in zip(history_one, history_two):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["val_accuracy"] == pytest.approx(a["val_accuracy"], abs=0.17)  # a near-tie may flip one of 6 images
    assert not torch.equal(one["net.0.weight"], torch.zeros_like(one["net.0.weight"]))

    # Killed after its first epoch's checkpoint, the job continues from there to the same weights.
    uninterrupted, killed = tmp_path / "slow-a", tmp_path / "slow-b"
    _train(imagenet_folder, uninterrupted, 1, epochs=4, pause=0.02)
    process = _train(imagenet_folder, killed, 1, epochs=4, pause=0.02, wait=False)
    deadline = time.monotonic() + 120
    while not (killed / "last.pt").is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(load_torch(killed / "last.pt")["history"])
    assert 1 <= done < 4 and not (killed / "final.pt").exists(), "the job was not killed mid-training"
    _train(imagenet_folder, killed, 1, epochs=4, pause=0.02)
    history = load_torch(killed / "last.pt")["history"]
    assert [row["epoch"] for row in history] == [0, 1, 2, 3]
    a, b = load_torch(uninterrupted / "final.pt"), load_torch(killed / "final.pt")
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_one_process_under_torchrun_trains_in_ddp_as_a_plain_process_does(imagenet_folder: Path, tmp_path: Path) -> None:
    # Launched by torchrun, even one process sets up the gloo group and DDP (NCCL on a GPU).
    _train(imagenet_folder, tmp_path / "plain", 1, epochs=1)
    _train(imagenet_folder, tmp_path / "ddp", 1, epochs=1, torchrun=True)
    plain, ddp = load_torch(tmp_path / "plain" / "final.pt"), load_torch(tmp_path / "ddp" / "final.pt")
    for key in plain:  # DDP's all-reduce of one process's gradients: measured equal, 1e-5 as for two processes
        torch.testing.assert_close(ddp[key], plain[key], rtol=0, atol=1e-5)
    assert read_json(tmp_path / "ddp" / "summary.json")["distributed"] is True
    assert read_json(tmp_path / "plain" / "summary.json")["distributed"] is False


# Slow: trains twice in new interpreters (15 to 30 s); compares nothing to a tolerance, and tests/test_device_paths.py
# keeps the bf16 training step in the fast set.
@pytest.mark.slow
def test_training_in_bf16_runs_the_robust_step_under_autocast(imagenet_folder: Path, tmp_path: Path) -> None:
    _train(imagenet_folder, tmp_path / "fp32", 1, epochs=1)
    _train(imagenet_folder, tmp_path / "bf16", 1, epochs=1, bf16=True)  # what CUDA runs, on the CPU
    fp32, bf16 = load_torch(tmp_path / "fp32" / "final.pt"), load_torch(tmp_path / "bf16" / "final.pt")
    assert all(bf16[key].dtype == torch.float32 and torch.isfinite(bf16[key]).all() for key in bf16)
    assert any(not torch.equal(fp32[key], bf16[key]) for key in fp32)  # bf16 passes: other gradients
    history = load_torch(tmp_path / "bf16" / "last.pt")["history"]
    assert len(history) == 1 and history[0]["train_loss"] > 0
    assert read_json(tmp_path / "bf16" / "summary.json")["mixed_precision"] is True


def test_world_size_without_a_launcher_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from selrob.training.data_parallel import processes_from_environment

    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "1")  # inherited from a cluster job: one plain process
    assert not processes_from_environment().launched
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SelrobError, match="WORLD_SIZE is 2 but RANK, MASTER_ADDR, MASTER_PORT not set; start"):
        processes_from_environment()


def test_a_finished_run_is_kept_and_a_changed_config_is_refused(imagenet_folder: Path, tmp_path: Path) -> None:
    from torch import nn

    def tiny() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    config = ImageNetTrainConfig("alexnet", "standard", **{**TINY, "epochs": 1})
    final = train_imagenet(config, imagenet_folder, tmp_path, device="cpu", workers=0, progress=False, network=tiny)
    checkpoint = torch.load(tmp_path / "last.pt", weights_only=True)  # plain data: nothing runs when it loads
    assert checkpoint["config"]["training"] == "standard" and len(checkpoint["history"]) == 1
    stamp = final.stat().st_mtime_ns
    assert train_imagenet(config, imagenet_folder, tmp_path, device="cpu", workers=0, network=tiny) == final
    assert final.stat().st_mtime_ns == stamp
    (tmp_path / "summary.json").unlink()
    changed = ImageNetTrainConfig("alexnet", "standard", **{**TINY, "epochs": 1, "lr": 0.2})
    with pytest.raises(SelrobError, match=r"written by another configuration \(lr differ\)"):
        train_imagenet(changed, imagenet_folder, tmp_path, device="cpu", workers=0, network=tiny)
    with pytest.raises(SelrobError, match="global batch 4 must divide among 3 processes"):
        launcher = {"RANK": "0", "WORLD_SIZE": "3", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
        os.environ.update(launcher)  # checked before any process group is made
        try:
            train_imagenet(config, imagenet_folder, tmp_path / "other", device="cpu", workers=0, network=tiny)
        finally:
            for name in launcher:
                del os.environ[name]
    with pytest.raises(SelrobError, match="does not exist; the data folder needs ImageNet's train/ and val/"):
        train_imagenet(config, tmp_path / "nowhere", tmp_path / "other", network=tiny)


def test_trained_weights_become_a_zoo_model(tmp_path: Path) -> None:
    config = ImageNetTrainConfig("alexnet", "robust")
    entry = register_target(config, None, tmp_path)
    assert entry.name == entries.get_pair("alexnet").robust == "alexnet-r"
    torch.manual_seed(0)
    state = build_network("alexnet").state_dict()
    final = tmp_path / "run" / "final.pt"
    weights.register_trained(entry, state, str(final.resolve()), tmp_path)
    assert weights.status(entry, tmp_path) == "trained"
    assert register_target(config, None, tmp_path, final) == entry  # its own weights: a restart may register again
    model = zoo_model("alexnet-r", tmp_path).load_model()
    assert torch.equal(model.backbone.state_dict()["classifier.6.weight"], state["classifier.6.weight"])
    with pytest.raises(SelrobError, match="already has weights"):
        register_target(config, None, tmp_path)
    with pytest.raises(SelrobError, match="is a robust resnet50, not a robust alexnet"):
        register_target(config, "resnet50-l2-eps3-madry", tmp_path)


def test_bad_command_line_values_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from selrob.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["train-imagenet", "--arch", "vgg"])
    assert stopped.value.code == 2 and "invalid choice: 'vgg'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["train-imagenet", "--arch", "alexnet", "--epochs", "0"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().endswith("argument --epochs: '0' is not a whole number of at least 1")
    for flags, message in ((["--workers", "-1"], "--workers must be 0 or more, got -1"),
                           (["--slurm", "--nodes", "0"], "--nodes and --gpus-per-node must be at least 1, got 0 and 8"),
                           ([], "train does not exist")):
        assert main(["train-imagenet", "--arch", "alexnet", "--imagenet-dir", str(tmp_path), *flags]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and error.startswith("selrob: error: ") and message in error, error
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_submitit_job_trains_a_zoo_architecture_and_registers_it(imagenet_folder: Path, tmp_path: Path) -> None:
    from selrob.training.slurm import ClusterOptions, submit_imagenet

    config = ImageNetTrainConfig("resnet50", "robust", **{**TINY, "epochs": 1, "crop": 32, "resize": 36})
    job = submit_imagenet(config, imagenet_folder, tmp_path / "out", ClusterOptions(timeout_min=10), workers=0,
                          runs_root=tmp_path / "runs", executor_cluster="local")
    final = Path(job.result())
    assert final == tmp_path / "out" / "final.pt"
    entry = entries.get_entry("resnet50-l2-eps3-madry")
    assert weights.status(entry, tmp_path / "runs") == "trained"
    model = zoo_model(entry.name, tmp_path / "runs").load_model()
    trained = load_torch(final)
    assert all(torch.equal(model.backbone.state_dict()[key], trained[key]) for key in ("conv1.weight", "fc.bias"))
