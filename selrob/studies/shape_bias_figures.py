"""The second paper's figures: which notebook draws each, which evaluations it reads and which
claims of :mod:`selrob.studies.shape_bias_claims` it shows (:class:`~selrob.pipeline.figures.Figure`)."""

from __future__ import annotations

from selrob.pipeline.figures import FIXED, PER_PAIRS, Figure

_DISTORTED = ("distorted-images", "corruption-predictions", "correct-subset")
_UNITS = ("dissection",)
_ABLATION = ("channel-ablation", "dissection")
_WORLD = ("shapes",)  # galleries of the embedded world's own images

FIGURES = (
    Figure("fig_world_gallery_shapes_32px", "09_shape_bias", "-",
           "The embedded world: each class's training images, mask, pattern and textures", per=FIXED,
           datasets=_WORLD),
    Figure("table2_shape_bias", "09_shape_bias", "Table 2",
           "Cue-conflict shape bias per model, S and R paired", ("cue-conflict",),
           ("standard_texture_bias", "robust_shape_bias"), per=PER_PAIRS),
    Figure("fig_cue_conflict_gallery", "09_shape_bias", "-",
           "Cue-conflict stimuli with each model's decision", ("cue-conflict",), per=PER_PAIRS),
    Figure("fig1_distortion_gallery", "10_distorted_images", "Fig 1, A4", "One image in every distorted type",
           per=PER_PAIRS, datasets=_WORLD),
    Figure("table3_distorted_accuracy", "10_distorted_images", "Table 3",
           "Accuracy on the pair's correctly classified subset per image type, S and R paired", _DISTORTED,
           ("corruption_accuracy", "scrambled_accuracy", "stylized_accuracy", "contour_accuracy",
            "silhouette_accuracy"), per=PER_PAIRS),
    Figure("figA1_scrambled_accuracy", "10_distorted_images", "Fig A1", "Accuracy against the scrambling grid",
           _DISTORTED, ("scrambled_accuracy",), per=PER_PAIRS),
    Figure("figA6_scrambled_top5", "10_distorted_images", "Fig A6", "Scrambled images with the top-5 classes of S and R",
           ("distorted-images",), per=PER_PAIRS, datasets=_WORLD),
    Figure("figA27_kernel_tv_per_layer", "11_smoothness", "Table 4, Fig A27", "Mean kernel total variation per layer",
           ("kernel-tv",), ("kernel_smoothness",), per=PER_PAIRS),
    Figure("fig2_matched_filters", "11_smoothness", "Fig 2",
           "Twelve S first-layer filters with their best Spearman match in R"),
    Figure("figA2_matched_filters_all", "11_smoothness", "Fig A2",
           "Every S first-layer filter with its best Spearman match in R"),
    Figure("figA3_first_layer_filters", "11_smoothness", "Fig A3", "Every first-layer filter of S and R"),
    Figure("fig3_activation_tv", "11_smoothness", "Fig 3, A5", "Activation-map TV per channel, clean against noisy",
           ("activation-tv",), ("noise_blocking",)),
    Figure("fig4a_A7_units_per_category", "12_network_dissection", "Fig 4a, A7",
           "Interpretable units per category, S against R", _UNITS, ("colour_units", "texture_units", "object_units"),
           per=PER_PAIRS),
    Figure("figA9_units_per_layer", "12_network_dissection", "Fig A9", "Interpretable units per category and layer",
           _UNITS, per=PER_PAIRS),
    Figure("figA8_concept_unit_difference", "12_network_dissection", "Fig A8",
           "R minus S interpretable units per concept", _UNITS),
    Figure("figA10_unit_diversity_per_layer", "12_network_dissection", "Fig A10", "Mean unit diversity per layer",
           _UNITS, ("unit_diversity",), per=PER_PAIRS),
    Figure("figA12_top_images", "12_network_dissection", "Fig A12-A19",
           "Top probe images of each category's best unit", _UNITS),
    Figure("fig4b_shape_texture_scores", "13_channel_ablation", "Fig 4b",
           "Shape and Texture scores of zeroing one unit, per category", _ABLATION,
           ("texture_unit_bias", "texture_unit_rate_bias")),
    Figure("fig5_standard_unit_top_images", "13_channel_ablation", "Fig 5, A20-A26",
           "A texture unit of S: its top images", _ABLATION),
    Figure("fig5_robust_unit_top_images", "13_channel_ablation", "Fig 5, A20-A26",
           "A texture unit of R: its top images", _ABLATION),
    Figure("fig5_standard_unit_flipped", "13_channel_ablation", "Fig 5, A20-A26",
           "The decisions zeroing that unit of S flips", _ABLATION, only_if="zeroing the unit flips a decision"),
    Figure("fig5_robust_unit_flipped", "13_channel_ablation", "Fig 5, A20-A26",
           "The decisions zeroing that unit of R flips", _ABLATION, only_if="zeroing the unit flips a decision"),
)
