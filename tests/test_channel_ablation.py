"""Channel ablation (issue 17, the second paper's section 3.4): the hook's zeroing equals zeroed
weights, batched ablation equals one channel at a time, Shape and Texture scores by hand on a
two-channel toy, and the cached ``channel-ablation`` evaluation per layer on a tiny shapes model."""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from selrob.errors import SelrobError
from selrob.measures.ablation import (ablated_predictions, ablation_plan, changed_images, channel_ablation,
                                      shape_texture_scores)
from support.fakes import FakeSource


def _identity(logits: torch.Tensor) -> torch.Tensor:
    return logits


def _conv_net(seed: int = 0) -> nn.Sequential:
    """conv -> in-place ReLU -> conv -> ReLU -> pool -> linear, random weights of ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(4, 6, 3, stride=2),
                         nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5)).eval()


def test_zeroing_a_channel_in_the_hook_equals_zeroing_the_weights_that_produce_it() -> None:
    model = _conv_net()
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    before = {name: value.clone() for name, value in model.state_dict().items()}
    intact = model(images).detach()
    channels = [2, 0, 3]
    logits = ablated_predictions(model, "1", images, channels, decide=_identity)
    assert logits.shape == (3, 3, 5)
    for k, channel in enumerate(channels):
        zeroed = copy.deepcopy(model)
        with torch.no_grad():  # ReLU(0) = 0: the channel's filter and bias zeroed give a zero map
            zeroed[0].weight[channel] = 0
            zeroed[0].bias[channel] = 0
            expected = zeroed(images)
        torch.testing.assert_close(logits[k], expected, rtol=0, atol=1e-5)  # measured gap 0; the ablation moves 8e-3
        assert not torch.allclose(expected, intact, atol=1e-3)  # the ablation matters
    # The model is untouched: same weights, no hooks left, and the same logits (the in-place
    # ReLU's output was copied, not zeroed where it lies).
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
    assert all(not module._forward_hooks for module in model.modules())
    assert torch.equal(model(images), intact)


class _TwoChannels(nn.Module):
    """h = ReLU(x) of 2-vectors, the layer ``relu``; logits (2 h0, 2 h1, 1): class 0 while h0 leads
    and exceeds 1/2, class 1 while h1 does, else class 2."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.head = nn.Linear(2, 3)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]))
            self.head.bias.copy_(torch.tensor([0.0, 0.0, 1.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.relu(x))


def test_shape_and_texture_scores_of_a_two_channel_toy_by_hand() -> None:
    # Per image (h0, h1), its logits, the decision intact / h0 zeroed / h1 zeroed, and its cues:
    images = torch.tensor([
        [2.0, 0.0],  # (4, 0, 1): 0 / 2 / 0; shape 0, texture 1: by shape, flips with h0
        [0.0, 3.0],  # (0, 6, 1): 1 / 1 / 2; shape 2, texture 1: by texture, flips with h1
        [2.0, 1.5],  # (4, 3, 1): 0 / 1 / 0; shape 1, texture 0: by texture, flips with h0
        [0.2, 0.6],  # (0.4, 1.2, 1): 1 / 1 / 2; shape 0, texture 2: by neither, flips with h1 (counts for none)
        [1.0, 2.0],  # (2, 4, 1): 1 / 1 / 0; shape 1, texture 0: by shape, flips with h1
        [3.0, 1.0],  # (6, 2, 1): 0 / 1 / 0; shape 0, texture 2: by shape, flips with h0
    ])
    shapes, textures = torch.tensor([0, 2, 1, 0, 1, 0]), torch.tensor([1, 1, 0, 2, 0, 2])
    model = _TwoChannels().eval()
    original = model(images).argmax(dim=1)
    assert original.tolist() == [0, 1, 0, 1, 1, 0]
    ablated = ablated_predictions(model, "relu", images, [0, 1])
    assert ablated.tolist() == [[2, 1, 1, 1, 1, 1], [0, 2, 0, 2, 0, 0]]
    scores = shape_texture_scores(original, ablated, shapes, textures)
    assert scores.shape.tolist() == [2, 1] and scores.texture.tolist() == [1, 1]
    assert changed_images(original, ablated) == [[0, 2, 5], [1, 3, 4]]
    # The same through the planner, one copy per pass (one image and one channel at a time).
    planned = channel_ablation(model, "relu", images, max_values=2)
    torch.testing.assert_close(planned.decisions, ablated, rtol=0, atol=0)
    assert torch.equal(planned.reference, original.expand(2, -1))  # each pass's intact copy
    assert shape_texture_scores(original, ablated, shapes, textures, planned.reference).shape.tolist() == [2, 1]
    # Against a same-pass reference that decides image 0 (decided by shape) as 2 instead, a near
    # tie decided otherwise in that batch: channel 0 (decision 2) no longer flips it, channel 1
    # (decision 0) does.
    other = original.expand(2, -1).clone()
    other[:, 0] = 2
    assert shape_texture_scores(original, ablated, shapes, textures, other).shape.tolist() == [1, 2]
    assert changed_images(other, ablated) == [[2, 5], [0, 1, 3, 4]]
    with pytest.raises(SelrobError, match="different shape and texture"):
        shape_texture_scores(original, ablated, shapes, shapes)
    with pytest.raises(SelrobError, match="has 2 channels"):
        ablated_predictions(model, "relu", images, [2])


def test_batched_ablation_equals_one_channel_at_a_time() -> None:
    model = _conv_net()
    images = torch.randn(12, 3, 8, 8, generator=torch.Generator().manual_seed(4)) * 2
    intact_logits = model(images)
    intact = intact_logits.argmax(dim=1)
    # The passes below decide the intact images in other batches: no near tie there either (gap 1.6e-2).
    intact_top = intact_logits.topk(2, dim=-1).values
    assert (intact_top[..., 0] - intact_top[..., 1]).min() > 1e-3
    for layer, channels in (("1", 4), ("3", 6)):
        single = torch.cat([ablated_predictions(model, layer, images, [c], decide=_identity) for c in range(channels)])
        batched = ablated_predictions(model, layer, images, range(channels), decide=_identity)
        torch.testing.assert_close(batched, single, rtol=0, atol=1e-5)  # measured gap 0 (6e-8 in the planned passes)
        # No decision at a tie: the top two logits of every image and ablation are far apart (measured
        # 1.5e-3, 2e4 times the 6e-8 by which other batch sizes move them), so the argmaxes below are exact.
        top = single.topk(2, dim=-1).values
        assert (top[..., 0] - top[..., 1]).min() > 1e-3
        one_by_one = single.argmax(dim=-1)
        assert torch.equal(ablated_predictions(model, layer, images, range(channels)), one_by_one)
        # In passes of a few images and every channel, or of one image and a few channels.
        per_copy = 4 * 8 * 8 if layer == "1" else 6 * 3 * 3
        for budget in (per_copy * channels * 5, per_copy * 3):
            planned = channel_ablation(model, layer, images, max_values=budget)
            assert torch.equal(planned.decisions, one_by_one)
            assert torch.equal(planned.reference, intact.expand(channels, -1))
        assert one_by_one.unique().numel() > 1 and (one_by_one != intact).any()  # decisions differ, and some flip


def test_the_plan_keeps_each_pass_within_its_budget() -> None:
    # Each pass holds the ablated copies and one intact copy.
    assert ablation_plan(31, 32 * 32 * 32) == (128, 31)  # 32 copies of 32x32x32: 128 images, every channel
    assert ablation_plan(63, 64 * 8 * 8) == (512, 63)
    assert ablation_plan(2048, 2048 * 7 * 7, max_values=2048 * 7 * 7 * 500) == (1, 499)  # more channels than fit
    assert ablation_plan(10, 100, max_values=50) == (1, 1)  # one ablated copy at the least
    for channels, values, budget in ((5, 7, 300), (96, 1024, 50_000), (3, 1, 2)):
        images, group = ablation_plan(channels, values, budget)
        assert images * (group + 1) * values <= max(budget, 2 * values) and group <= channels


def test_a_module_that_runs_twice_per_forward_pass_is_refused() -> None:
    class Reused(nn.Module):  # one ReLU called twice, as torchvision's BasicBlock does
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.relu, self.head = nn.Conv2d(3, 3, 1), nn.ReLU(), nn.Linear(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.relu(self.conv(self.relu(x))).mean(dim=(2, 3)))

    model = Reused().eval()
    with pytest.raises(SelrobError, match="runs more than once per forward pass"):
        ablated_predictions(model, "relu", torch.rand(2, 3, 4, 4), [0])
    assert not model.relu._forward_hooks  # removed on the way out
    with pytest.raises(SelrobError, match="has no module 'relu9'"):
        ablated_predictions(model, "relu9", torch.rand(2, 3, 4, 4), [0])


def _tiny_shapes_net() -> nn.Module:
    """A small random conv network (seed 0) with two post-ReLU layers, named as in a
    NormalizedModel ("backbone.1", "backbone.3")."""
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 4, 5, stride=2), nn.ReLU(inplace=True), nn.Conv2d(4, 6, 3, stride=2),
                             nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 10))
    return nn.Sequential(OrderedDict(backbone=backbone))


def _world_source(root: Path) -> FakeSource:
    """A shapes model source around :func:`_tiny_shapes_net` (a new one per load), its two
    ReLUs dissected."""
    return FakeSource(root, _tiny_shapes_net, dissected_layers=("backbone.1", "backbone.3"))


def test_the_evaluation_scores_every_unit_and_resumes_per_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selrob.data.shape_texture import WORLD_SEED, as_image_set, build, cue_conflict_specs
    from selrob.evaluations import EvaluationContext, EvaluationSettings, channel_ablation as evaluation_module
    from selrob.evaluations import get_evaluation
    from selrob.evaluations.common import top1_predictions
    from selrob.evaluations.stimuli.world import PER_PAIR

    source, context = _world_source(tmp_path), EvaluationContext("shapes", EvaluationSettings(device="cpu"))
    evaluation = get_evaluation("channel-ablation")
    assert not evaluation.is_cached(source, context)
    ablated_layers: list[str] = []
    original = evaluation_module.channel_ablation

    def counting(model: nn.Module, layer: str, images: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        ablated_layers.append(layer)
        return original(model, layer, images, *args, **kwargs)

    monkeypatch.setattr(evaluation_module, "channel_ablation", counting)
    result = evaluation.evaluate(source, context)
    assert list(result) == ["backbone.1", "backbone.3"] and ablated_layers == ["backbone.1", "backbone.3"]
    assert evaluation.is_cached(source, context) and source.loads == 1

    # The intact decisions are those of the cue-conflict images; the scores count the flipped images by cue.
    specs = cue_conflict_specs(PER_PAIR, WORLD_SEED)
    shapes, textures = torch.tensor([s.shape for s in specs]), torch.tensor([s.texture for s in specs])
    decision = top1_predictions(source.load_model(), as_image_set(build(specs)))
    for layer, channels in (("backbone.1", 4), ("backbone.3", 6)):
        cell = result[layer]
        assert cell["decision"] == decision.tolist() and len(cell["flipped"]) == channels
        assert cell["shape_images"] == int((decision == shapes).sum()) > 0
        assert cell["texture_images"] == int((decision == textures).sum()) > 0
        for flipped, shape_score, texture_score in zip(cell["flipped"], cell["shape_score"], cell["texture_score"]):
            by = decision[flipped]
            assert flipped == sorted(flipped) and ((by == shapes[flipped]) | (by == textures[flipped])).all()
            assert (shape_score, texture_score) == (int((by == shapes[flipped]).sum()), int((by == textures[flipped]).sum()))
        assert sum(map(len, cell["flipped"])) > 0  # some channel matters

    rows = list(evaluation.rows(result, context))
    assert len(rows) == 4 + 6 and all(set(row) == set(evaluation.columns) for row in rows)
    assert [(row["layer"], row["unit"], row["depth"]) for row in rows] == (
        [("1", unit, 1) for unit in range(4)] + [("3", unit, 2) for unit in range(6)])
    assert [row["shape_score"] for row in rows[4:]] == result["backbone.3"]["shape_score"]

    # Resumes per layer: a removed cell is recomputed, the other one read back.
    path = evaluation_module.channel_ablation_entry(source, context).path
    stored = json.loads(path.read_text())
    del stored["cells"]["backbone.1"]
    path.write_text(json.dumps(stored))
    assert not evaluation.is_cached(source, context)
    again = evaluation.evaluate(source, context)
    assert ablated_layers == ["backbone.1", "backbone.3", "backbone.1"] and again == result
    assert evaluation.is_cached(source, context)
    evaluation.evaluate(source, context)
    assert ablated_layers[3:] == [] and source.loads == 3  # the first run, the check above, the resume


def test_imagenet_models_without_the_stimuli_get_the_cue_conflict_evaluations_one_line_error(tmp_path: Path) -> None:
    from selrob.evaluations import EvaluationContext, EvaluationSettings, get_evaluation

    source = _world_source(tmp_path / "evaluations")
    source.dataset = "imagenet"
    context = EvaluationContext("imagenet", EvaluationSettings(data_root=str(tmp_path / "data"), device="cpu"))
    with pytest.raises(SelrobError) as expected:
        get_evaluation("cue-conflict").evaluate(source, context)
    with pytest.raises(SelrobError) as error:
        get_evaluation("channel-ablation").evaluate(source, context)
    assert str(error.value) == str(expected.value) and "\n" not in str(error.value)
    assert "cue-conflict stimuli not found" in str(error.value) and source.loads == 0  # before loading the model
    assert not get_evaluation("channel-ablation").is_cached(source, context)
    source.dataset = "digits"
    with pytest.raises(SelrobError, match="cue-conflict images for digits models .needed by channel ablation"):
        get_evaluation("channel-ablation").evaluate(source, context)


def test_smoke_settings_ablate_fewer_images_in_a_cache_of_their_own(tmp_path: Path) -> None:
    from selrob.evaluations import EvaluationContext, EvaluationSettings, channel_ablation as evaluation_module

    source = _world_source(tmp_path)
    full, smoke = (EvaluationContext("shapes", EvaluationSettings(device="cpu", smoke=s)) for s in (False, True))
    assert evaluation_module.ablated_images(source, full) == 200  # ABLATED_IMAGES: the world's cap
    assert evaluation_module.ablated_images(source, smoke) == 50  # SMOKE_ABLATED_IMAGES
    assert (evaluation_module.channel_ablation_entry(source, full).path
            != evaluation_module.channel_ablation_entry(source, smoke).path)
