"""Corruption throughput on 32x32 RGB images: per corruption, and the whole CIFAR-10-C regeneration.

    python benchmarks/corruption_throughput.py [--images 2000] [--full-images 10000] [--workers N]
                                               [--reference-images 100]

1. Per corruption, one process: images/s over all five severities, in the chunks that
   ``selrob data make-c`` uses.
2. The full regeneration as ``make-c`` runs it: 19 corruptions x 5 severities of ``--full-images``
   images, one corruption per worker process (no disk writes). Target: 10k images in < 180 s.
3. If ``imagecorruptions`` imports (it needs ``setuptools<81``; never a selrob dependency), its
   per-image throughput on the corruptions that still run there, and the speed-up. Target: >= 5x.

Images are smooth random textures (CIFAR-10 cannot be downloaded here); only JPEG's and spatter's
speed depends on content, and not by much. Writes ``benchmarks/results/corruption_throughput_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from selrob.corruptions import CORRUPTIONS, corrupt
from selrob.corruptions.generate import CHUNK, corrupt_all_severities
from selrob.device import device_description
from selrob.io import write_json
from selrob.parallel import completed_in_processes

RESULTS = Path(__file__).resolve().parent / "results"


def textures(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Smooth random uint8 RGB images with edges and mid-range values."""
    noise = np.random.default_rng(seed).normal(size=(n, size, size, 3))
    smooth = ndimage.gaussian_filter(noise, (0, 2, 2, 0))
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (20 + 215 * smooth).astype(np.uint8)


def per_corruption(images: np.ndarray) -> dict[str, float]:
    """Images per second of each corruption over severities 1..5 (one process)."""
    rates = {}
    for name in CORRUPTIONS:
        corrupt(images[:8], name, 1)  # warm caches (frost photographs, zoom operators)
        started = time.perf_counter()
        for severity in range(1, 6):
            for start in range(0, len(images), CHUNK):
                corrupt(images[start : start + CHUNK], name, severity, seed=(severity, start))
        rates[name] = 5 * len(images) / (time.perf_counter() - started)
        print(f"  {name:>18}: {rates[name]:9.0f} images/s")
    return rates


def full_regeneration(images: np.ndarray, workers: int) -> float:
    """Wall seconds for all 19 x 5 cells with one corruption per job, as ``make-c``."""
    started = time.perf_counter()
    arguments = [(images, name, "cifar10", 0) for name in CORRUPTIONS]
    for _ in completed_in_processes(corrupt_all_severities, arguments, workers):
        pass
    return time.perf_counter() - started


def reference_package(images: np.ndarray) -> dict[str, Any]:
    """imagecorruptions' images/s per corruption (one image at a time, as it works), or why not."""
    try:
        import imagecorruptions
    except Exception as err:  # its pkg_resources import fails with setuptools >= 81
        return {"available": False, "reason": f"{type(err).__name__}: {err}"}
    rates: dict[str, float] = {}
    failures: dict[str, str] = {}
    for name in CORRUPTIONS:
        try:
            imagecorruptions.corrupt(images[0], corruption_name=name, severity=1)
            started = time.perf_counter()
            for severity in range(1, 6):
                for image in images:
                    imagecorruptions.corrupt(image, corruption_name=name, severity=severity)
            rates[name] = 5 * len(images) / (time.perf_counter() - started)
            print(f"  imagecorruptions {name:>18}: {rates[name]:9.0f} images/s")
        except Exception as err:
            failures[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
            print(f"  imagecorruptions {name:>18}: fails ({failures[name]})")
    return {"available": True, "images": len(images), "images_per_second": rates, "fails": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images for the per-corruption timing")
    parser.add_argument("--full-images", type=int, default=10_000, help="images for the full regeneration (0: skip)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--reference-images", type=int, default=100, help="images for imagecorruptions (0: skip)")
    args = parser.parse_args()

    print(f"selrob, one process, {args.images} images x 5 severities:")
    rates = per_corruption(textures(args.images))
    seconds_per_image = sum(1 / rate for rate in rates.values())  # one image through all 19 corruptions
    report: dict[str, Any] = {
        "benchmark": "corruption_throughput",
        "input": [32, 32, 3],
        "device": device_description(torch.device("cpu")),
        "cpu_count": os.cpu_count(),
        "images_per_corruption": args.images,
        "images_per_second": rates,
        "all_19_corruptions_images_per_second": 1 / seconds_per_image,
        "projected_cifar10_c_single_process_seconds": 10_000 * 5 * seconds_per_image,
    }
    if args.full_images:
        seconds = full_regeneration(textures(args.full_images, seed=1), args.workers)
        report["full_regeneration"] = {
            "images": args.full_images, "workers": args.workers, "seconds": seconds,
            "target_seconds_for_10k": 180, "meets_target": seconds * 10_000 / args.full_images < 180,
        }
        print(f"full regeneration, {args.full_images} images x 19 x 5, {args.workers} workers: {seconds:.1f} s")
    if args.reference_images:
        reference = reference_package(textures(args.reference_images, seed=2))
        if reference.get("available"):
            common = sorted(reference["images_per_second"])
            ours = sum(1 / rates[name] for name in common)
            theirs = sum(1 / reference["images_per_second"][name] for name in common)
            reference["speedup_on_common_corruptions"] = theirs / ours
            reference["speedup_per_corruption"] = {n: rates[n] / reference["images_per_second"][n] for n in common}
            reference["target_speedup_at_least"] = 5
            reference["meets_target"] = theirs / ours >= 5
        report["imagecorruptions"] = reference
    path = RESULTS / "corruption_throughput_cpu.json"
    write_json(path, report)
    print(json.dumps({k: v for k, v in report.items() if k != "images_per_second"}, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
