"""Network Dissection's measures: thresholds against numpy.quantile, IoU by hand and by brute force
from Bau et al.'s definition, a unit that copies a concept's mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selrob.errors import SelrobError
from selrob.data.probe import Concepts, ImageLabels
from selrob.measures.dissection import IoUAccumulator, QuantileThresholds, TopImages, unit_labels
from support.fakes import FakeSource

CONCEPTS = Concepts(names=["-", "dog", "cat", "striped", "red"], category=["", "object", "object", "texture", "color"])


def _thresholds(batches: list[torch.Tensor], units: int, bins: int = 4096) -> QuantileThresholds:
    estimate = QuantileThresholds(units, bins=bins)
    for batch in batches:
        estimate.observe_range(batch)
    for batch in batches:
        estimate.observe(batch)
    return estimate


def test_streamed_thresholds_are_within_one_bin_above_numpys_order_statistic() -> None:
    rng = np.random.default_rng(0)
    maps = torch.from_numpy(rng.gamma(2.0, size=(10, 3, 10, 10)))  # 1,000 values per unit
    maps[:, 2] = maps[:, 2] * 50 - 3  # another scale and sign
    estimate = _thresholds([maps[:4], maps[4:]], units=3)
    values = maps.transpose(0, 1).reshape(3, -1).numpy()
    higher = np.quantile(values, 0.995, axis=1, method="higher")  # x[ceil(h)], h = 0.995 * 999 = 994.005
    linear = np.quantile(values, 0.995, axis=1)
    thresholds, bound = estimate.thresholds().numpy(), estimate.error_bound.numpy()
    assert (thresholds >= higher).all() and (thresholds <= higher + bound).all()
    assert (thresholds >= linear).all() and (bound < (values.max(axis=1) - values.min(axis=1)) / 4000).all()
    # Fewer bins, a looser but still valid bound.
    coarse = _thresholds([maps], units=3, bins=16)
    assert (coarse.thresholds().numpy() <= higher + coarse.error_bound.numpy()).all()


def test_thresholds_need_the_range_pass_first_and_sensible_settings() -> None:
    with pytest.raises(SelrobError, match="observe_range"):
        QuantileThresholds(2).observe(torch.zeros(1, 2, 3, 3))
    with pytest.raises(SelrobError, match="got 1.5"):
        QuantileThresholds(2, quantile=1.5)


def _label(size: tuple[int, int], pixel: dict | None = None, whole: dict | None = None) -> ImageLabels:
    return ImageLabels(size, pixel or {}, whole or {})


def test_iou_by_hand_with_the_papers_definition() -> None:
    # Two units on 4 x 4 maps (no upsampling: the segmentation is 4 x 4), threshold 0.5.
    unit0 = torch.zeros(4, 4)
    unit0[:2, :2] = 1  # 4 pixels, top-left
    unit1 = torch.ones(4, 4)  # every pixel
    maps = torch.stack([torch.stack([unit0, unit1])] * 3)
    dog = np.zeros((4, 4), dtype=np.int32)
    dog[:2, :4] = 1  # 8 pixels: 4 of them under unit 0's mask
    labels = [
        _label((4, 4), pixel={"object": [dog]}),  # image 0: objects
        _label((4, 4), whole={"texture": [3]}),  # image 1: a whole-image texture label
        _label((4, 4), pixel={"color": [np.full((4, 4), 4, dtype=np.int32)]}),  # image 2: no object labels
    ]
    accumulator = IoUAccumulator(2, CONCEPTS)
    accumulator.update(maps, torch.tensor([0.5, 0.5]), labels)
    iou = accumulator.iou().numpy()
    # dog: unit 0 counts its mask on image 0 only (images 1, 2 carry no object labels): 4 / (4 + 8 - 4).
    assert iou[0, 1] == pytest.approx(4 / 8)
    assert iou[1, 1] == pytest.approx(8 / (16 + 8 - 8))
    # striped covers all 16 pixels of image 1: unit 0 has 4 of them there.
    assert iou[0, 3] == pytest.approx(4 / (4 + 16 - 4)) and iou[1, 3] == pytest.approx(1.0)
    assert iou[0, 4] == pytest.approx(4 / 16) and iou[1, 4] == pytest.approx(1.0)
    assert iou[:, 2].tolist() == [0, 0] and iou[:, 0].tolist() == [0, 0]  # cat never labelled; "-" is none


def _brute_force_iou(maps: torch.Tensor, thresholds: torch.Tensor, labels: list[ImageLabels]) -> np.ndarray:
    """Bau et al.'s IoU pixel by pixel, image by image, straight from its definition: a concept's
    pixels are those any map of the image gives it (once), its mask counts on images annotated for
    its category (carrying a concept of it, in any map or as a whole-image label)."""
    from torch.nn import functional as F

    units, names = maps.shape[1], len(CONCEPTS.names)
    inter, label_area, mask_area = np.zeros((units, names)), np.zeros(names), np.zeros((units, names))
    for image_maps, image in zip(maps, labels):
        up = F.interpolate(image_maps[None].double(), size=image.size, mode="bilinear", align_corners=False)[0]
        masks = (up > thresholds[:, None, None]).numpy()
        carried = {int(n) for maps in image.pixel.values() for m in maps for n in np.unique(m) if n} | {
            n for numbers in image.whole.values() for n in numbers}
        annotated = {CONCEPTS.category[n] for n in carried}
        for number in range(1, names):
            if CONCEPTS.category[number] in annotated:
                mask_area[:, number] += masks.reshape(units, -1).sum(axis=1)
            if any(number in numbers for numbers in image.whole.values()):
                present = np.ones(image.size, dtype=bool)
            else:
                present = np.zeros(image.size, dtype=bool)
                for category_maps in image.pixel.values():
                    for m in category_maps:
                        present |= m == number
            label_area[number] += present.sum()
            inter[:, number] += (masks & present).reshape(units, -1).sum(axis=1)
    union = mask_area + label_area - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    iou[:, 0] = 0
    return iou


def test_iou_matches_the_definition_for_one_map_and_overlapping_maps_and_mixed_sizes() -> None:
    rng = np.random.default_rng(3)
    labels = []
    for k in range(12):
        size = (6, 6) if k % 3 else (4, 8)
        pixel = {}
        if k % 4 != 3 and k != 8:  # one object map: the batched path
            pixel["object"] = [rng.integers(0, 3, size).astype(np.int32)]
        if k % 2:  # two overlapping colour maps (one concept in both at some pixels): the per-image path
            pixel["color"] = [np.where(rng.random(size) < 0.5, 4, 0).astype(np.int32),
                              np.where(rng.random(size) < 0.5, 4, 0).astype(np.int32)]
        if k % 6 == 2:  # a part map that gives dog (an object) pixels too (Broden's multi-category labels)
            pixel["part"] = [np.where(rng.random(size) < 0.5, 1, 0).astype(np.int32)]  # k = 8: the only map of dog
        elif k % 6 == 4:  # a part map whose concept no other map has: counted with the batched path
            pixel["part"] = [np.where(rng.random(size) < 0.5, 3, 0).astype(np.int32)]
        whole = {"texture": [3]} if k % 5 == 0 else {}
        labels.append(_label(size, pixel=pixel, whole=whole))  # k = 3, 7 carry only colour or nothing
    maps = torch.from_numpy(rng.random((12, 3, 3, 3)))
    thresholds = torch.tensor([0.4, 0.5, 0.6], dtype=torch.float64)
    accumulator = IoUAccumulator(3, CONCEPTS)
    accumulator.update(maps[:5], thresholds, labels[:5])  # two batches
    accumulator.update(maps[5:], thresholds, labels[5:])
    iou = accumulator.iou().numpy()
    np.testing.assert_allclose(iou, _brute_force_iou(maps, thresholds, labels), atol=1e-12)
    assert ((0 <= iou) & (iou <= 1)).all()


def test_a_unit_that_copies_a_concepts_mask_gets_iou_one_and_that_label() -> None:
    rng = np.random.default_rng(1)
    labels, maps = [], []
    for _ in range(5):
        cat = (rng.random((8, 8)) < 0.3).astype(np.int32) * 2
        dog = (rng.random((8, 8)) < 0.3).astype(np.int32)
        labels.append(_label((8, 8), pixel={"object": [dog, cat]}))
        noise = torch.from_numpy(rng.random((8, 8))) * 0.4
        maps.append(torch.stack([torch.from_numpy((cat == 2).astype(np.float64)), noise]))
    accumulator = IoUAccumulator(2, CONCEPTS)
    accumulator.update(torch.stack(maps), torch.tensor([0.5, 0.5]), labels)
    table = unit_labels(accumulator.iou(), CONCEPTS, "conv5")
    first = table.iloc[0]
    assert first["label"] == "cat" and first["category"] == "object" and first["iou"] == pytest.approx(1.0)
    assert bool(first["interpretable"]) and first["diversity"] >= 1
    assert table.iloc[1]["iou"] == 0 and not bool(table.iloc[1]["interpretable"])  # a unit that never fires


def test_maps_are_upsampled_bilinearly_to_the_segmentation_size() -> None:
    maps = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])  # right column on, at 2 x 2
    stripe = np.zeros((4, 4), dtype=np.int32)
    stripe[:, 2:] = 1
    accumulator = IoUAccumulator(1, CONCEPTS)
    accumulator.update(maps, torch.tensor([0.5]), [_label((4, 4), pixel={"object": [stripe]})])
    assert accumulator.iou()[0, 1].item() == pytest.approx(1.0)  # the upsampled map splits at the middle
    with pytest.raises(SelrobError, match="segmentation size"):
        accumulator.update(maps, torch.tensor([0.5]), [_label((3, 3), pixel={"object": [stripe]})])


def test_top_images_merge_batches_into_each_units_highest_maxima() -> None:
    rng = np.random.default_rng(0)
    maps = torch.from_numpy(rng.permutation(7 * 2 * 4).reshape(7, 2, 2, 2).astype(float))
    top = TopImages(2, count=3)
    for batch in (maps[:3], maps[3:4], maps[4:]):
        top.update(batch)
    peaks = maps.flatten(2).amax(dim=2).numpy()  # distinct values: no ties
    for unit in range(2):
        expected = np.argsort(-peaks[:, unit])[:3]
        assert top.indices[unit].tolist() == expected.tolist()
        assert top.values[unit].tolist() == peaks[expected, unit].tolist()
    ties = TopImages(1, count=2)
    ties.update(torch.ones(2, 1))
    ties.update(torch.ones(1, 1))
    assert ties.indices.tolist() == [[0, 1]]  # the earlier images of a tie
    with pytest.raises(SelrobError, match="at least 1"):
        TopImages(1, count=0)


def test_the_worlds_probe_set_labels_come_from_its_ground_truth() -> None:
    from selrob.data import shape_texture

    data, labels, concepts = shape_texture.probe_set(40)
    assert concepts.categories == ["object", "texture", "color"] and len(concepts.names) == 1 + 10 + 12 + 10
    assert {s.texture for s in data.specs} > set(range(10))  # held-out textures are probed too
    for mask, spec, image in zip(data.masks, data.specs, labels):
        (objects,), (textures,), (colours,) = image.pixel["object"], image.pixel["texture"], image.pixel["color"]
        assert image.size == mask.shape and ((objects > 0) == mask).all() and ((textures > 0) == mask).all()
        assert concepts.names[int(objects[mask][0])] == shape_texture.SHAPES[spec.shape]
        assert concepts.names[int(textures[mask][0])] == shape_texture.TEXTURES[spec.texture]
        assert concepts.names[int(colours[~mask][0])] == shape_texture.COLOUR_NAMES[spec.background_colour]
    # A unit that fires exactly on circles is the circle detector.
    circle = concepts.names.index("circle")
    maps = torch.stack([torch.from_numpy((image.pixel["object"][0] == circle).astype(np.float64))[None]
                        for image in labels])
    accumulator = IoUAccumulator(1, concepts)
    accumulator.update(maps, torch.tensor([0.5]), labels)
    row = unit_labels(accumulator.iou(), concepts).iloc[0]
    assert (row["label"], row["category"]) == ("circle", "object") and row["iou"] == pytest.approx(1.0)


def _one_layer_net() -> torch.nn.Module:
    """A small random conv network (seed 0): conv, ReLU (the layer "1")."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.ReLU())


def _two_layer_net() -> torch.nn.Module:
    """A small random conv network (seed 0): conv, ReLU (the layer "1"), conv, ReLU (the layer "3")."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.ReLU(),
                               torch.nn.Conv2d(4, 5, 3), torch.nn.ReLU())


def test_the_dissection_evaluation_streams_the_probe_set_and_is_cached_per_layer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from selrob.data import shape_texture
    from selrob.evaluations import EvaluationContext, EvaluationSettings, get_evaluation
    from selrob.evaluations.stimuli import PROBE_BATCH as BATCH
    from selrob.evaluations.stimuli.world import PROBE_IMAGES as WORLD_PROBE_IMAGES

    source = FakeSource(tmp_path, _one_layer_net, dissected_layers=("1",))
    context = EvaluationContext("shapes", EvaluationSettings())
    evaluation = get_evaluation("dissection")
    result = evaluation.evaluate(source, context)
    assert list(result) == ["1"] and len(result["1"]["threshold"]) == 4
    # Against the whole probe set in one piece: thresholds within their bound of numpy's quantile,
    # and the same IoU as one accumulation over all images.
    data, labels, concepts = shape_texture.probe_set(WORLD_PROBE_IMAGES)
    model, images = source.load_model(), torch.from_numpy(data.images).float() / 255
    with torch.no_grad():  # in the evaluation's batches, so that the maps agree to the last bit
        maps = torch.cat([model(images[start : start + BATCH]) for start in range(0, len(images), BATCH)]).double()
    values = maps.transpose(0, 1).reshape(4, -1).numpy()
    higher = np.quantile(values, 0.995, axis=1, method="higher")
    bound = (values.max(axis=1) - values.min(axis=1)) / 4096
    thresholds = np.array(result["1"]["threshold"])
    assert (higher <= thresholds + 1e-12).all() and (thresholds <= higher + bound + 1e-12).all()
    accumulator = IoUAccumulator(4, concepts)
    accumulator.update(maps, torch.from_numpy(thresholds), labels)
    np.testing.assert_allclose(np.array(result["1"]["iou"]), accumulator.iou().numpy(), atol=1e-12)
    # Each unit's top images are the probe images of highest maximum activation, in order.
    peaks = maps.flatten(2).amax(dim=2).numpy()
    for unit, (top, values) in enumerate(zip(result["1"]["top_images"], result["1"]["top_activations"])):
        assert len(top) == 49 and np.all(np.diff(values) <= 0)
        np.testing.assert_allclose(values, peaks[top, unit], atol=1e-12)
        assert values[-1] >= np.sort(peaks[:, unit])[-49] - 1e-12
    rows = list(evaluation.rows(result, context))
    assert [r["unit"] for r in rows] == [0, 1, 2, 3] and all(r["category"] in ("object", "texture", "color") for r in rows)
    assert evaluation.is_cached(source, context) and source.loads == 2  # the evaluation's, and this test's
    evaluation.evaluate(source, context)
    assert source.loads == 2  # read back, not recomputed


def test_layers_dissected_together_equal_each_alone_and_a_missing_one_is_redone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from selrob.evaluations import EvaluationContext, EvaluationSettings, get_evaluation
    from selrob.evaluations.dissection import dissect_layers, probe_concepts, probe_set

    source = FakeSource(tmp_path, _two_layer_net, dissected_layers=("1", "3"))
    context = EvaluationContext("shapes", EvaluationSettings())
    evaluation = get_evaluation("dissection")
    together = evaluation.evaluate(source, context)
    assert [len(together[layer]["threshold"]) for layer in ("1", "3")] == [4, 5]
    batches, concepts = probe_set("shapes").batches(tmp_path, None), probe_concepts("shapes", context)
    alone = dissect_layers(source.load_model(), ["3"], batches, concepts, torch.device("cpu"))["3"]
    for key in ("threshold", "iou", "top_activations"):
        np.testing.assert_allclose(np.array(alone[key]), np.array(together["3"][key]), atol=1e-12)
    assert alone["top_images"] == together["3"]["top_images"]
    # A cached layer is not dissected again: drop layer 3's cell and only it is recomputed.
    from selrob.evaluations.dissection import dissection_entry

    cache = dissection_entry(source, context)
    cells = cache.cells()
    first = cells["1"]
    cache.write_cells({"1": {**first, "threshold": [-1.0] * 4}})  # a marker: recomputing would lose it
    again = evaluation.evaluate(source, context)
    assert again["1"]["threshold"] == [-1.0] * 4
    np.testing.assert_allclose(np.array(again["3"]["iou"]), np.array(together["3"]["iou"]), atol=1e-12)
