"""ImageNet-scale training on Slurm through submitit: one task per GPU on one or more nodes.

Each task sets the torch.distributed environment from Slurm's (submitit's
``TorchDistributedEnvironment``: ``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``) and runs :func:`selrob.training.data_parallel.train_imagenet`. The job is
checkpointable: on a timeout or a preemption submitit requeues it, and the requeued tasks resume
from the last finished epoch's ``last.pt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submitit

from selrob.training.data_parallel import ImageNetTrainConfig, train_imagenet


@dataclass(frozen=True)
class ClusterOptions:
    """Resources of one training job."""

    nodes: int = 1
    gpus_per_node: int = 8
    cpus_per_gpu: int = 10
    partition: str | None = None
    timeout_min: int = 72 * 60
    mem_gb: int | None = None


class ImageNetJob(submitit.helpers.Checkpointable):
    """What each task runs; pickled by submitit, requeued with the same arguments."""

    def __call__(self, config: ImageNetTrainConfig, data_dir: str, out_dir: str, workers: int,
                 register: str | None, runs_root: str | None) -> str:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        return str(train_imagenet(config, data_dir, out_dir, workers=workers, register=register,
                                  runs_root=runs_root, progress=False))


def submit_imagenet(config: ImageNetTrainConfig, data_dir: str | Path, out_dir: str | Path, cluster: ClusterOptions,
                    *, workers: int = 8, register: str | None = None, runs_root: str | Path | None = None,
                    executor_cluster: str | None = None) -> Any:
    """Submit the training job (``executor_cluster="local"``: submitit's local executor, one task)
    and return the submitit job; logs go to ``out_dir/_submitit``."""
    executor = submitit.AutoExecutor(folder=Path(out_dir) / "_submitit", cluster=executor_cluster)
    local = executor_cluster == "local"
    parameters: dict[str, Any] = {"name": f"selrob-{config.arch}-{config.training}", "timeout_min": cluster.timeout_min,
                                  "nodes": 1 if local else cluster.nodes,
                                  "tasks_per_node": 1 if local else cluster.gpus_per_node,
                                  "gpus_per_node": 0 if local else cluster.gpus_per_node,
                                  "cpus_per_task": cluster.cpus_per_gpu}
    if not local:
        if cluster.partition:
            parameters["slurm_partition"] = cluster.partition
        if cluster.mem_gb:
            parameters["mem_gb"] = cluster.mem_gb
    executor.update_parameters(**parameters)
    return executor.submit(ImageNetJob(), config, str(data_dir), str(out_dir), workers, register,
                           None if runs_root is None else str(runs_root))
