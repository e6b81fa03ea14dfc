"""ImageNet's distorted images (the second paper's Table 3d, f, g on the real path), on a tiny
stand-in validation set: scrambled on the fly, contours traced and cached in chunks, silhouettes
from a segmentation model, scored in the 16 categories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from selrob.data.base import ImageSet
from selrob.distortions import image_types, segmentation
from selrob.distortions.image_types import CHUNK, distorted_batches
from selrob.distortions.scramble import scramble_patches
from selrob.errors import SelrobError
from selrob.evaluations import EvaluationContext, EvaluationSettings, get_evaluation
from selrob.measures.human_categories import IMAGENET_INDICES
from support.fakes import FakeSource


def _clean(count: int = CHUNK + 8, size: int = 24) -> ImageSet:
    rng = np.random.default_rng(0)
    images = np.full((count, 3, size, size), 230, dtype=np.uint8)
    images[:, :, 6:18, 6:18] = rng.integers(0, 60, size=(count, 3, 1, 1))  # a dark square on light grey
    labels = torch.as_tensor(rng.integers(0, 1000, size=count))
    labels[:4] = torch.tensor([404, 294, 0, 999])  # airplane, bear and two classes of no category
    return ImageSet(torch.from_numpy(images), labels)


def test_scrambled_imagenet_images_are_the_world_transform_seeded_by_position(tmp_path: Path) -> None:
    clean = _clean()
    positions = [3, 1, CHUNK + 2]
    batches = list(distorted_batches("imagenet", "scrambled-4", clean, positions, tmp_path))
    assert [members for members, _ in batches] == [[3, 1], [CHUNK + 2]]  # grouped by chunk, in order
    for members, data in batches:
        expected = scramble_patches(clean.images[members].permute(0, 2, 3, 1).numpy(), 4, image_types.SEED, members)
        assert (data.images.permute(0, 2, 3, 1).numpy() == expected).all() and (data.labels == clean.labels[members]).all()


def test_contours_are_traced_once_per_chunk_and_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = _clean()
    positions = list(range(0, CHUNK + 8, 37))
    first = list(distorted_batches("imagenet", "contour", clean, positions, tmp_path, workers=1))
    folder = image_types.distorted_dir("imagenet", tmp_path) / "contour-24x24"
    assert sorted(p.name for p in folder.iterdir()) == ["0.npz", "1.npz"]
    images = torch.cat([data.images for _, data in first])
    assert images.shape == (len(positions), 3, 24, 24) and (images.amin(dim=(1, 2, 3)) < 200).all()  # outlines

    def untraceable(*args: Any) -> None:
        raise AssertionError("a cached chunk is traced again")

    monkeypatch.setattr(image_types, "bw_contours", untraceable)
    again = list(distorted_batches("imagenet", "contour", clean, positions[:3], tmp_path, workers=1))
    assert (again[0][1].images == images[:3]).all()


class _Square(nn.Module):
    """A fake segmenter: class 1 on the image's centre square, background elsewhere."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = torch.zeros(len(x), 2, *x.shape[-2:])
        logits[:, 0] = 1.0
        h, w = x.shape[-2:]
        logits[:, 1, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 2.0
        return {"out": logits}


def test_silhouettes_need_the_weights_and_come_from_the_segmenter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = _clean()
    with pytest.raises(SelrobError, match=r"segmentation weights at .*deeplabv3_resnet50_coco-cd0a2569\.pth: download"):
        list(distorted_batches("imagenet", "silhouette", clean, [0, 1], tmp_path))
    weights = tmp_path / image_types.SEGMENTER
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stand-in")
    monkeypatch.setattr(segmentation, "load_segmenter", lambda path: _Square())
    (members, data), = distorted_batches("imagenet", "silhouette", clean, [0, 1], tmp_path)
    assert members == [0, 1]
    expected = torch.full((24, 24), 255, dtype=torch.uint8)
    expected[6:18, 6:18] = 0
    assert (data.images == expected).all()


def _always_airplane() -> nn.Module:
    """1000 logits favouring airplane (404) for 24 px images."""
    model = nn.Sequential(nn.Flatten(), nn.LazyLinear(1000))
    model(torch.zeros(1, 3, 24, 24))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.zero_()
        model[1].bias[404] = 5.0
    return model


def test_imagenet_distorted_images_score_silhouettes_in_the_sixteen_categories(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = _clean(count=12)
    clean.labels[4:] = 404
    source = FakeSource(tmp_path / "zoo", _always_airplane, dataset="imagenet", data=clean)
    weights = tmp_path / "data" / image_types.SEGMENTER
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stand-in")
    monkeypatch.setattr(segmentation, "load_segmenter", lambda path: _Square())
    context = EvaluationContext("imagenet", EvaluationSettings(data_root=str(tmp_path / "data")))
    cells = get_evaluation("distorted-images").evaluate(source, context)
    assert list(cells) == list(image_types.IMAGENET_TYPES)
    # Silhouettes: only the images of the 16 categories (not labels 0 and 999), scored as categories.
    silhouette = cells["silhouette"]
    assert silhouette["image"] == [0, 1, *range(4, 12)]
    airplane, bear = (segmentation.CATEGORIES.index(c) for c in ("airplane", "bear"))
    assert silhouette["label"][:2] == [airplane, bear] and set(silhouette["prediction"]) == {airplane}
    assert cells["contour"]["image"] == list(range(12)) and set(cells["contour"]["prediction"]) == {404}
    rows = list(get_evaluation("distorted-images").rows(cells, context))
    assert [r["correct"] for r in rows if r["image_type"] == "silhouette"] == [True, False, *[True] * 8]
    assert sorted(IMAGENET_INDICES["airplane"]) == [404]


def test_imagenet_table3_counts_each_pairs_subset_and_the_15_common_corruptions(monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    from selrob.tables import distorted_images

    # One standard ResNet-50 in two pairs (two robust models), as the zoo's resnet50 pairs.
    models = [("resnet50", "standard"), ("madry", "robust"), ("salman", "robust")]
    runs = pd.DataFrame([{"dataset": "imagenet", "arch": "resnet50", "model": m, "training": t, "seed": 0}
                         for m, t in models])
    subsets = pd.DataFrame({"pair": ["madry", "madry", "salman"], "arch": "resnet50", "seed": 0, "image": [0, 1, 1]})

    def rows(name: str, *args: Any) -> pd.DataFrame:
        column = {"predictions": "real", "l2-pgd": "adversarial", "corruption-predictions": "corruptions",
                  "distorted-images": "contour", "stylized-sixteen": "stylized"}[name]
        # Stylized images carry their source's validation position; -1: none given.
        images = range(3) if name != "stylized-sixteen" else [1, 1, 2, -1]
        frame = pd.DataFrame([{"arch": "resnet50", "model": m, "training": t, "seed": 0, "image": i, "column": column,
                               "cell": column, "correct": bool((i + len(m)) % 2)} for m, t in models for i in images])
        if name == "corruption-predictions":  # an extra corruption of the full release is left out
            frame = pd.concat([frame.assign(corruption="fog"), frame.assign(corruption="spatter")])
        return frame

    monkeypatch.setattr(distorted_images, "pair_subsets", lambda *args: subsets)
    monkeypatch.setattr(distorted_images, "_column_rows", rows)
    table = distorted_images.decisions(runs)
    counted = table.groupby(["pair", "model", "column"])["image"].apply(sorted).to_dict()
    # Test images only on each pair's subset; the standard model in both pairs, each robust in its own.
    assert counted[("madry", "resnet50", "contour")] == [0, 1] and counted[("salman", "resnet50", "contour")] == [1]
    assert counted[("madry", "madry", "contour")] == [0, 1] and ("madry", "salman", "contour") not in counted
    # Stylized images count where their source image is in the pair's subset.
    assert counted[("madry", "resnet50", "stylized")] == [1, 1] == counted[("salman", "salman", "stylized")]
    assert ("salman", "madry", "stylized") not in counted
    assert set(table.loc[table["column"] == "corruptions", "corruption"]) == {"fog"}


def test_stylized_images_are_scored_by_the_category_of_the_top1_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selrob.data import stylized_sixteen

    files = ["0001_sty_dnn_0_airplane_00_airplane-0001-ILSVRC2012-val-00000005.png",
             "0002_sty_dnn_0_bear_00_bear-0002-ILSVRC2012-val-00000010.png",
             "0003_sty_dnn_0_bear_00_bear-0003-imagenet.png"]
    fake = stylized_sixteen.StylizedSet(_clean(count=4).images[:3], ["airplane", "bear", "bear"], files)
    monkeypatch.setattr(stylized_sixteen, "load_stylized", lambda root, progress=False: fake)
    (tmp_path / "data" / stylized_sixteen.FOLDER).mkdir(parents=True)
    source = FakeSource(tmp_path / "zoo", _always_airplane, dataset="imagenet", data=_clean(count=4))
    context = EvaluationContext("imagenet", EvaluationSettings(data_root=str(tmp_path / "data")))
    evaluation = get_evaluation("stylized-sixteen")
    result = evaluation.evaluate(source, context)
    assert result["image"] == [4, 9, -1]  # the source validation images' positions
    rows = list(evaluation.rows(result, context))
    assert [r["decision"] for r in rows] == ["airplane"] * 3 and [r["correct"] for r in rows] == [True, False, False]
    assert evaluation.is_cached(source, context)
