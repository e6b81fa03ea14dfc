"""Which CPU settings change floating-point results on this machine: the evidence for the
knife-edge guard's profile (``.ci/cpu-profile.env``, run by ``make test-guard``).

    python benchmarks/cpu_profiles.py

Computes the kernels the suite leans on (a convolution's forward pass, contiguous and
channels-last, and its input gradient; a matrix product through ``torch.mm``; a long sum; a
softmax; a ResNet20 forward pass; NumPy float32 and float64 products, one of the shape of zoom
blur's pixel operator; a scikit-learn PCA) in a fresh process under each candidate setting, one at
a time, then under the whole profile, and compares each result's bits with the baseline's: one
thread in this environment, what each of ``make test``'s two workers computes with. It also
compares one thread with two under the machine's OpenBLAS kernels and under others: a guard
whose kernels give the same bits at any thread count cannot see a result that depends on it.
Writes ``benchmarks/results/cpu_profiles_cpu.json``: per setting, the kernels whose bits changed
and their largest change relative to the kernel's largest value.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PROFILE = Path(__file__).resolve().parents[1] / ".ci" / "cpu-profile.env"
#: One setting at a time: the knobs that change kernels without changing the machine. The thread
#: count is set as the tests set it (SELROB_TEST_THREADS, see tests/conftest.py).
CANDIDATES: tuple[dict[str, str], ...] = (
    {"SELROB_TEST_THREADS": "2"},
    {"SELROB_TEST_THREADS": "3"},
    {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    {"ONEDNN_MAX_CPU_ISA": "AVX"},
    {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    {"MKL_ENABLE_INSTRUCTIONS": "AVX"},
    {"MKL_CBWR": "COMPATIBLE"},
    {"ATEN_CPU_CAPABILITY": "default"},
    {"OPENBLAS_CORETYPE": "Sandybridge"},
    {"OPENBLAS_CORETYPE": "Prescott"},
    {"OPENBLAS_CORETYPE": "Zen"},
)
#: OpenBLAS kernels whose thread-count sensitivity is measured beside the machine's own.
BLAS_CORETYPES = ("Sandybridge", "Prescott")
#: Thread counts a process could inherit from this one: the baseline computes on one thread.
THREAD_SETTINGS = ("SELROB_TEST_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def read_profile(path: Path = PROFILE) -> dict[str, str]:
    """The ``NAME=value`` lines of the guard's profile file (comments and blank lines skipped)."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def kernels() -> dict[str, np.ndarray]:
    """Every kernel's result on fixed random inputs, computed with this process's settings."""
    import torch
    from sklearn.decomposition import PCA

    from selrob.models import build_model
    from selrob.parallel import limit_threads

    limit_threads(int(os.environ.get("SELROB_TEST_THREADS", "1")))
    generator = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    images = torch.randn(16, 16, 32, 32, generator=generator)
    weight = torch.randn(32, 16, 3, 3, generator=generator)
    out: dict[str, np.ndarray] = {}
    out["conv_forward"] = torch.nn.functional.conv2d(images, weight, padding=1).numpy()
    last = torch.channels_last
    out["conv_forward_channels_last"] = torch.nn.functional.conv2d(
        images.contiguous(memory_format=last), weight.contiguous(memory_format=last), padding=1).contiguous().numpy()
    inputs = images.clone().requires_grad_(True)
    torch.nn.functional.conv2d(inputs, weight, padding=1).square().sum().backward()
    assert inputs.grad is not None
    out["conv_input_gradient"] = inputs.grad.numpy()
    left, right = torch.randn(257, 513, generator=generator), torch.randn(513, 129, generator=generator)
    out["torch_mm"] = (left @ right).numpy()
    out["torch_sum"] = torch.randn(1_000_003, generator=generator).sum().numpy()
    out["torch_softmax"] = torch.softmax(left, dim=1).numpy()
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10, in_channels=3, mean=[0.5] * 3, std=[0.25] * 3).eval()
    with torch.no_grad():
        out["resnet20_forward"] = model(torch.rand(32, 3, 32, 32, generator=generator)).numpy()
    # Zoom blur's pixel operator on the shape-texture world's test set (1,000 RGB images of 32 x 32).
    pixels = rng.random((3000, 1024), dtype=np.float32)
    out["numpy_float32_pixel_operator"] = pixels @ rng.random((1024, 1024), dtype=np.float32)
    a, b = rng.standard_normal((1000, 700)), rng.standard_normal((700, 300))
    out["numpy_float32_product"] = a.astype(np.float32) @ b.astype(np.float32)
    out["numpy_float64_product"] = a @ b
    data = rng.standard_normal((500, 64)) @ rng.standard_normal((64, 64))
    out["sklearn_pca_variance_ratio"] = PCA(svd_solver="full").fit(data).explained_variance_ratio_
    return out


def computed_under(setting: dict[str, str], folder: Path) -> dict[str, np.ndarray]:
    """:func:`kernels` in a fresh process whose environment is this one's (thread counts aside:
    the baseline is one thread) plus ``setting``."""
    path = folder / f"{len(list(folder.iterdir()))}.npz"
    env = {name: value for name, value in os.environ.items() if name not in THREAD_SETTINGS}
    subprocess.run([sys.executable, __file__, "--kernels", str(path)], env={**env, **setting}, check=True)
    with np.load(path) as results:
        return {name: results[name] for name in results.files}


def changes(baseline: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, float]:
    """Per kernel whose bits differ, the largest change relative to the kernel's largest value."""
    return {name: float(np.max(np.abs(other[name] - value)) / np.max(np.abs(value)))
            for name, value in baseline.items() if value.tobytes() != other[name].tobytes()}


def digest(result: np.ndarray) -> str:
    """The first 16 hex digits of the SHA-256 of ``result``'s bytes (the JSON's record of the baseline)."""
    return hashlib.sha256(np.ascontiguousarray(result).tobytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=Path, help=argparse.SUPPRESS)  # the child process's output file
    args = parser.parse_args()
    if args.kernels is not None:
        np.savez(args.kernels, **kernels())
        return

    import threadpoolctl
    import torch

    from selrob.device import device_description
    from selrob.io import write_json

    profile = read_profile()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        baseline = computed_under({}, folder)
        repeated = changes(baseline, computed_under({}, folder))
        rows = []
        for setting in (*CANDIDATES, profile):
            changed = changes(baseline, computed_under(setting, folder))
            rows.append({"setting": setting, "changed": changed})
            label = " ".join(f"{k}={v}" for k, v in setting.items())
            print(f"{label:<60} {', '.join(changed) or 'no change'}")
        # Under which BLAS kernels does the thread count change the bits (what the guard must see)?
        thread_sensitive = {}
        for coretype in ("", *BLAS_CORETYPES):
            kernel = {"OPENBLAS_CORETYPE": coretype} if coretype else {}
            one, two = (computed_under({**kernel, "SELROB_TEST_THREADS": threads}, folder) for threads in ("1", "2"))
            thread_sensitive[coretype or "default"] = changes(one, two)
            print(f"one vs two threads, OpenBLAS kernels {coretype or 'default':<12} "
                  f"{', '.join(thread_sensitive[coretype or 'default']) or 'no change'}")
    blas = [{k: info.get(k) for k in ("internal_api", "version", "architecture")}
            for info in threadpoolctl.threadpool_info() if info.get("user_api") == "blas"]
    report: dict[str, Any] = {
        "benchmark": "cpu_profiles",
        "device": device_description(torch.device("cpu")),
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "blas": blas},
        "baseline": {"setting": {"SELROB_TEST_THREADS": "1"}, "kernels": {k: digest(v) for k, v in baseline.items()},
                     "changed_when_repeated": repeated},
        "candidates": rows[:-1],
        "profile": rows[-1],
        "one_vs_two_threads_by_openblas_kernels": thread_sensitive,
        "change_bits": sorted({name for row in rows[:-1] if row["changed"] for name in row["setting"]}),
    }
    path = RESULTS / "cpu_profiles_cpu.json"
    write_json(path, report)
    print(f"settings that change bits: {', '.join(report['change_bits'])}; the profile ({', '.join(profile)}) changes "
          f"{len(rows[-1]['changed'])} of {len(baseline)} kernels\nwritten to {path}")


if __name__ == "__main__":
    main()
