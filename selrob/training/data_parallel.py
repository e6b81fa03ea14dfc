"""ImageNet-scale training of the second paper's S and R models, data-parallel over GPUs and nodes.

The paper (Chen, Agarwal & Nguyen 2020, section 2) uses AlexNet, GoogLeNet and ResNet-50 trained
on ImageNet, standard (S) and adversarially (R) with the robustness library: L2 PGD with epsilon
3, step size 0.5 and 7 steps (no random start, the highest-loss iterate, made with the model in
eval mode: :func:`selrob.attacks.pgd_l2_attack`), 90 epochs of SGD at lr 0.1, x0.1 every 30
epochs, momentum 0.9, weight decay 1e-4, batch 256. :data:`PAPER` holds that protocol.

One process per GPU under ``torchrun`` (or Slurm through :mod:`selrob.training.slurm`), each
reading ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``, in DistributedDataParallel even when alone;
without them one plain process. The global batch is split between processes (DDP averages their
gradients, so the step is the one-process step on the global batch), images stream from an
ImageFolder tree (:mod:`selrob.data.streaming`), channels-last; bf16 autocast on CUDA
(:func:`selrob.device.mixed_precision`), pinned memory and NCCL between GPUs, gloo on the CPU. Rank 0 writes ``last.pt`` after every epoch (model, optimizer, history, config;
read back with ``weights_only``): a restarted job continues from the last finished epoch and, on
the CPU, ends where an uninterrupted one does. The finished weights are registered as a model of
the zoo (:mod:`selrob.zoo`), where every evaluation of the second paper reads them.

BatchNorm statistics are per process, as in the robustness library's training: with BatchNorm
layers a run on N processes is not the same computation as one process on the global batch.
GoogLeNet trains without its auxiliary heads (the zoo's GoogLeNet has none; the authors trained
theirs with them) and with PyTorch's default initialisation.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from selrob.attacks import pgd_l2_attack
from selrob.data.imagenet import CROP, INFO, RESIZE
from selrob.data.streaming import EpochShardSampler, ImageFolderSet, image_folder_loader
from selrob.device import device_description, mixed_precision, resolve_device, training_autocast
from selrob.errors import SelrobError
from selrob.io import load_torch, read_json, save_torch, write_json
from selrob.models import NormalizedModel
from selrob.progress import progress_bar
from selrob.zoo import entries, weights
from selrob.zoo.networks import build_network

TRAININGS = ("standard", "robust")
CHECKPOINT = "last.pt"
FINAL = "final.pt"
SUMMARY = "summary.json"  # written last: the run is finished


@dataclass(frozen=True)
class ImageNetTrainConfig:
    """Everything that determines an ImageNet-scale run (the paper's protocol by default)."""

    arch: str
    training: str
    seed: int = 0
    epochs: int = 90
    batch_size: int = 256  # global: split between the processes
    lr: float = 0.1
    lr_step: int = 30
    lr_gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    epsilon: float = 3.0
    step_size: float = 0.5
    steps: int = 7
    crop: int = CROP
    resize: int = RESIZE

    def __post_init__(self) -> None:
        if self.training not in TRAININGS:
            raise SelrobError(f"unknown training {self.training!r}; choose one of: {', '.join(TRAININGS)}")
        for name in ("epochs", "batch_size", "lr_step", "steps", "crop", "resize"):
            if getattr(self, name) < 1:
                raise SelrobError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise SelrobError(f"lr must be positive, got {self.lr}")

    def learning_rate(self, epoch: int) -> float:
        """``lr * gamma ** (epoch // lr_step)``: x0.1 every 30 epochs."""
        return self.lr * self.lr_gamma ** (epoch // self.lr_step)


PAPER = {"epochs": 90, "batch_size": 256, "lr": 0.1, "lr_step": 30, "epsilon": 3.0, "step_size": 0.5, "steps": 7}


@dataclass(frozen=True)
class Processes:
    """This process's place among the data-parallel processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    #: Started by torchrun or Slurm (every variable of torch's env:// rendezvous set): the process
    #: group and DDP are set up even for one process, so that a one-GPU job takes the path of a
    #: many-GPU one (NCCL, gradient all-reduce).
    launched: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


#: What torchrun and Slurm's launcher set for torch's env:// rendezvous.
RENDEZVOUS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def processes_from_environment() -> Processes:
    """``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as torchrun (or :mod:`selrob.training.slurm`) sets them."""
    try:
        place = Processes(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                          int(os.environ.get("LOCAL_RANK", 0)), all(v in os.environ for v in RENDEZVOUS))
    except ValueError as err:
        raise SelrobError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers ({err})") from None
    if place.world > 1 and not place.launched:
        missing = [v for v in RENDEZVOUS if v not in os.environ]
        raise SelrobError(f"WORLD_SIZE is {place.world} but {', '.join(missing)} not set; start the processes with "
                          "torchrun (or selrob train-imagenet --slurm)")
    return place


def _check_data(data_dir: Path) -> None:
    for split in ("train", "val"):
        if not (data_dir / split).is_dir():
            raise SelrobError(f"{data_dir / split} does not exist; the data folder needs ImageNet's train/ and val/ "
                              "in ImageFolder layout (one folder of JPEGs per wnid)")


def register_target(config: ImageNetTrainConfig, register: str | None, runs_root: str | Path | None,
                    final: Path | None = None) -> entries.ZooEntry:
    """The zoo entry the finished weights become: ``register``, or the paper's pair member of the
    architecture; refused before training if it already holds weights (other than this run's own
    ``final`` weights, registered by a job stopped before it wrote its summary) or is another
    architecture."""
    if register is None:
        if config.arch not in entries.PAIRS:
            raise SelrobError(f"name the zoo model to register with --register (the paper pairs {', '.join(entries.PAIRS)})")
        pair = entries.get_pair(config.arch)
        register = pair.robust if config.training == "robust" else pair.standard
    entry = entries.get_entry(register)
    if entry.arch != config.arch or entry.training != config.training:
        raise SelrobError(f"zoo model {entry.name} is a {entry.training} {entry.arch}, not a {config.training} {config.arch}")
    record = weights.model_dir(entry, runs_root) / weights.RECORD
    own = final is not None and record.is_file() and read_json(record).get("source") == str(final.resolve())
    if weights.status(entry, runs_root) != "missing" and not own:
        raise SelrobError(f"zoo model {entry.name} already has weights ({weights.status(entry, runs_root)}); "
                          f"delete {weights.model_dir(entry, runs_root)} or register under another name")
    return entry


def _resume(path: Path, config: ImageNetTrainConfig) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    checkpoint = load_torch(path)
    if checkpoint["config"] != dataclasses.asdict(config):
        differ = sorted(k for k, v in dataclasses.asdict(config).items() if checkpoint["config"].get(k) != v)
        raise SelrobError(f"{path} was written by another configuration ({', '.join(differ)} differ); "
                          "use another output folder or the same settings")
    return checkpoint  # type: ignore[no-any-return]


def _epoch(model: nn.Module, network: NormalizedModel, loader: Any, optimizer: torch.optim.Optimizer,
           config: ImageNetTrainConfig, device: torch.device, show: bool, label: str) -> tuple[float, float, int]:
    """One epoch; returns this process's summed loss, correct count and image count."""
    model.train()
    amp = mixed_precision(device)
    totals = torch.zeros(3, dtype=torch.float64, device=device)
    for images, labels in progress_bar(loader, desc=label, unit="batch", disable=not show, leave=False):
        # Asynchronous copies from pinned memory on CUDA; plain copies elsewhere.
        images = images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)
        if config.training == "robust":
            # The attack reads the plain network: its passes are no training steps to synchronise.
            images = pgd_l2_attack(network, images, labels, config.epsilon, config.step_size, config.steps, amp=amp)
        with training_autocast(device):
            logits = model(images)
        loss = nn.functional.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = labels.shape[0]
        totals += torch.stack([loss.detach() * n, (logits.argmax(1) == labels).sum(), torch.tensor(n, device=device)]).double()
    return tuple(totals.tolist())  # type: ignore[return-value]


@torch.no_grad()
def _evaluate(network: nn.Module, loader: Any, device: torch.device) -> torch.Tensor:
    network.eval()
    totals = torch.zeros(2, dtype=torch.float64, device=device)
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        totals += torch.stack([(network(images).argmax(1) == labels).sum(), torch.tensor(labels.shape[0], device=device)]).double()
    return totals


def train_imagenet(
    config: ImageNetTrainConfig,
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    device: str | None = None,
    workers: int = 8,
    register: str | None = None,
    runs_root: str | Path | None = None,
    progress: bool = True,
    network: Callable[[], nn.Module] | None = None,
) -> Path:
    """Train ``config`` on ``data_dir/train`` (validating on ``data_dir/val`` every epoch) in this
    process's share of the data-parallel job, resuming from ``out_dir/last.pt``; returns the final
    weights file. Unless ``network`` builds another network (tests), the weights are then
    registered as zoo model ``register`` (default: the paper's pair member for the architecture).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    _check_data(data_dir)
    if (out_dir / SUMMARY).is_file():  # finished (and registered) already
        if read_json(out_dir / SUMMARY)["config"] != dataclasses.asdict(config):
            raise SelrobError(f"{out_dir} holds a finished run of another configuration; use another output folder")
        return out_dir / FINAL
    place = processes_from_environment()
    if config.batch_size % place.world:
        raise SelrobError(f"the global batch {config.batch_size} must divide among {place.world} processes")
    target = None if network is not None else register_target(config, register, runs_root, out_dir / FINAL)
    device_ = resolve_device(device)
    if device_.type == "cuda":
        device_ = torch.device("cuda", place.local_rank)
        torch.cuda.set_device(device_)
        torch.backends.cudnn.benchmark = True
    owns_group = place.launched and not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device_.type == "cuda" else "gloo")
    train = ImageFolderSet(data_dir / "train", True, config.seed, config.crop, config.resize)
    val = ImageFolderSet(data_dir / "val", False, config.seed, config.crop, config.resize)
    sampler = EpochShardSampler(len(train), place.rank, place.world, config.seed, True, config.batch_size)
    per_process = config.batch_size // place.world
    pin = device_.type == "cuda"
    train_loader = image_folder_loader(train, sampler, per_process, workers, pin)
    val_loader = image_folder_loader(val, EpochShardSampler(len(val), place.rank, place.world, config.seed, False),
                                     per_process, workers, pin)

    torch.manual_seed(config.seed)
    # The zoo entry's GoogLeNet input convention, so that the registered model sees what it trained on.
    backbone = network() if network is not None else build_network(config.arch, target is not None and target.transform_input)
    model = NormalizedModel(backbone, INFO.mean, INFO.std).to(device_).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    checkpoint = _resume(out_dir / CHECKPOINT, config)
    history: list[dict[str, Any]] = []
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        history = checkpoint["history"]
    parallel = DistributedDataParallel(model, device_ids=[device_.index] if device_.type == "cuda" else None) \
        if place.launched else model
    label = f"imagenet/{config.arch} {config.training}"
    for epoch in progress_bar(range(len(history), config.epochs), initial=len(history), total=config.epochs,
                              desc=label, unit="epoch", disable=not (progress and place.main)):
        started = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate(epoch)
        sampler.set_epoch(epoch)
        loss, correct, count = _epoch(parallel, model, train_loader, optimizer, config, device_,
                                      progress and place.main, f"epoch {epoch}")
        totals = torch.cat([torch.tensor([loss, correct, count], dtype=torch.float64, device=device_),
                            _evaluate(model, val_loader, device_)])
        if place.launched:
            dist.all_reduce(totals)
        loss, correct, count, val_correct, val_count = totals.tolist()
        history.append({"epoch": epoch, "lr": config.learning_rate(epoch), "train_loss": loss / count,
                        "train_accuracy": correct / count, "val_accuracy": val_correct / val_count,
                        "seconds": time.perf_counter() - started})
        if place.main:
            save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": history,
                        "config": dataclasses.asdict(config)}, out_dir / CHECKPOINT)
        if place.launched:
            dist.barrier()
    final = out_dir / FINAL
    if place.main:
        state = dict(model.backbone.state_dict())
        save_torch(state, final)
        if target is not None:
            weights.register_trained(target, state, str(final.resolve()), runs_root)
        write_json(out_dir / SUMMARY, {"config": dataclasses.asdict(config), "history": history, "processes": place.world,
                                       "distributed": place.launched, "mixed_precision": mixed_precision(device_),
                                       "device": device_description(device_),
                                       "zoo_model": None if target is None else target.name})
    if place.launched:
        dist.barrier()
    if owns_group:
        dist.destroy_process_group()
    return final
