"""Generate a -C set (``selrob data make-c``): every corruption at every severity of a dataset's
test set, written in the official release's format (see :mod:`selrob.data.corrupted`).

Each corruption is one job, written atomically when all five severities are done, so an
interrupted generation resumes at the first unfinished corruption. Cell (corruption, severity)
and chunk k are seeded with ``(seed, corruption index, severity, k)``: the result does not depend
on the number of worker processes or on which corruptions were asked for first.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from selrob.progress import progress_bar

from selrob.corruptions import ALGORITHM_VERSION, CORRUPTIONS, corrupt
from selrob.corruptions.frost_photos import fetch_frost_photos, photos_folder
from selrob.data import load_test_set
from selrob.data.corrupted import (
    SEVERITY_LEVELS,
    corrupted_dir,
    corrupted_format,
    finished_corruptions,
)
from selrob.data.corrupted_writing import write_jpeg_block, write_manifest, write_npy_block
from selrob.errors import SelrobError
from selrob.parallel import completed_in_processes

CHUNK = 500  # images per corrupt() call: bounds memory; part of the seeding, so fixed


def corrupt_all_severities(images: np.ndarray, name: str, table: str, seed: int) -> np.ndarray:
    """``name`` at severities 1..5 of uint8 (N, H, W, C) ``images``, stacked to (5 N, H, W, C)."""
    index = list(CORRUPTIONS).index(name)
    return np.concatenate([
        corrupt(images[start : start + CHUNK], name, severity, table, seed=(seed, index, severity, start // CHUNK))
        for severity in SEVERITY_LEVELS
        for start in range(0, len(images), CHUNK)
    ])


def _job(folder: str, dataset: str, data_root: str | Path | None, name: str, images: np.ndarray, labels: np.ndarray,
         seed: int, wnids: list[str]) -> str:
    fmt = corrupted_format(dataset)
    with photos_folder(data_root):
        corrupted = corrupt_all_severities(images, name, fmt.table, seed)
    if fmt.layout == "npy":
        write_npy_block(Path(folder), name, corrupted)
    else:
        write_jpeg_block(Path(folder), name, corrupted, np.tile(labels, len(SEVERITY_LEVELS)), wnids)
    return name


def _class_ids(layout: str, data_root: str | Path | None) -> list[str]:
    """The class folders' names of a JPEG layout (Tiny-ImageNet-C's, the only one: its wnids)."""
    if layout != "jpeg":
        return []
    from selrob import paths
    from selrob.data.tinyimagenet import FOLDER, read_wnids

    return read_wnids(paths.data_dir(data_root) / FOLDER)


def make_corrupted_set(
    dataset: str,
    data_root: str | Path | None = None,
    corruptions: list[str] | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Write the generated -C set of ``dataset`` (all 19 corruptions unless ``corruptions`` is
    given) and return its folder. Finished corruptions are skipped."""
    fmt = corrupted_format(dataset)
    if fmt.aligned:  # its files must carry the clean files' names; write_jpeg_block names them by position
        raise SelrobError(f"{fmt.folder} is official only: selrob does not generate it; download it with "
                          f"`selrob data download-c {dataset}`")
    chosen = list(CORRUPTIONS) if corruptions is None else corruptions
    unknown = [name for name in chosen if name not in CORRUPTIONS]
    if unknown:
        raise SelrobError(f"unknown corruption {unknown[0]!r}; choose from: {', '.join(CORRUPTIONS)}")
    if seed < 0:
        raise SelrobError(f"seed must be a non-negative integer, got {seed}")
    test = load_test_set(dataset, data_root)
    images = test.images.numpy().transpose(0, 2, 3, 1).copy()
    labels = test.labels.numpy().astype(np.uint8)
    folder = corrupted_dir(dataset, "generated", data_root)
    folder.mkdir(parents=True, exist_ok=True)
    write_manifest(folder, {
        "dataset": dataset, "table": fmt.table, "seed": seed, "images_per_severity": len(labels),
        "algorithm_version": ALGORITHM_VERSION, "chunk": CHUNK,
    })
    if fmt.layout == "npy" and not (folder / "labels.npy").is_file():
        write_npy_block(folder, "labels", np.tile(labels, len(SEVERITY_LEVELS)))
    done = set(finished_corruptions(folder, fmt.layout)) & set(chosen)
    todo = [name for name in chosen if name not in done]
    wnids = _class_ids(fmt.layout, data_root)
    if "frost" in todo:  # its photographs are fetched once, here, not by every worker
        with photos_folder(data_root) as photos:
            fetch_frost_photos(photos, progress=progress)
    workers = min(workers or os.cpu_count() or 1, max(len(todo), 1))
    bar = progress_bar(total=len(chosen), initial=len(done), desc=f"{fmt.folder}", unit="corruption", disable=not progress)
    arguments = [(str(folder), dataset, data_root, name, images, labels, seed, wnids) for name in todo]
    if workers == 1:
        for args in arguments:
            bar.set_postfix_str(args[3])
            _job(*args)
            bar.update()
    else:
        for _, future in completed_in_processes(_job, arguments, workers):
            bar.set_postfix_str(future.result())
            bar.update()
    bar.close()
    return folder
