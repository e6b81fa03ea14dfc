"""The first paper's figures: which notebook draws each, which evaluations it reads and which
claims of :mod:`selrob.studies.selectivity_claims` it shows (:class:`~selrob.pipeline.figures.Figure`)."""

from __future__ import annotations

from selrob.pipeline.figures import FIXED, Figure

_CORRUPTIONS = ("corruptions",)
_DIMENSIONALITY = ("dimensionality-clean", "dimensionality-corruptions", "dimensionality-pgd")

FIGURES = (
    Figure("figA2_accuracy_vs_selectivity", "01_selectivity_accuracy", "Fig A2",
           "Test accuracy against mean class selectivity, per alpha", claims=("selectivity", "accuracy")),
    Figure("figA11a_layer_selectivity", "01_selectivity_accuracy", "Fig A11a",
           "Class selectivity per layer, per alpha", claims=("selectivity",)),
    Figure("figA1_corruption_gallery_32px", "02_average_case_robustness", "Fig A1",
           "One 32 px image under every corruption and severity", per=FIXED),
    Figure("fig1a_accuracy_per_corruption_severity", "02_average_case_robustness", "Fig 1a, A6a, A9a",
           "Accuracy per corruption and severity against alpha", _CORRUPTIONS, ("corrupted-accuracy",)),
    Figure("fig1b_A3a_mean_corrupted_accuracy", "02_average_case_robustness", "Fig 1b, A3a, A6b, A6c",
           "Mean corrupted accuracy and corrupted / clean accuracy against alpha", _CORRUPTIONS,
           ("corrupted-accuracy", "normalized-corrupted-accuracy")),
    Figure("figA3b_accuracy_by_severity", "02_average_case_robustness", "Fig A3b, A6d",
           "Mean corrupted accuracy per severity against alpha", _CORRUPTIONS),
    Figure("figA4_accuracy_per_corruption", "02_average_case_robustness", "Fig A4, A7",
           "Accuracy per corruption against alpha", _CORRUPTIONS),
    Figure("figA5_clean_vs_corrupted", "02_average_case_robustness", "Fig A5, A8",
           "Corrupted against clean accuracy per run", _CORRUPTIONS),
    Figure("fig2ab_fgsm_pgd_accuracy", "03_worst_case_robustness", "Fig 2a, 2b, A12, A13",
           "FGSM accuracy per epsilon and PGD accuracy per step, per alpha", ("fgsm", "pgd"), ("fgsm", "pgd")),
    Figure("fig2c_jacobian_norm", "03_worst_case_robustness", "Fig 2c, A12c, A13c",
           "Input-output Jacobian norm against alpha", ("jacobian",), ("jacobian",)),
    Figure("figA14_gradient_masking", "03_worst_case_robustness", "Fig A14",
           "Accuracy on PGD examples made on the alpha = 0 replicates", ("gradient-masking",), ("gradient-masking",)),
    Figure("fig4_A21_pca_dimensionality", "04_dimensionality", "Fig 4, A20, A21",
           "PCA dimensionality per layer of clean representations and of corruption and PGD differences",
           _DIMENSIONALITY, ("dimensionality-clean", "dimensionality-corruptions", "dimensionality-pgd",
                             "corruptions-above-clean", "worst-above-average")),
    Figure("figA22_twonn_dimensionality", "04_dimensionality", "Fig A22",
           "TwoNN intrinsic dimensionality per layer", _DIMENSIONALITY),
    Figure("fig3_unit_gradient_cv", "05_unit_gradient_variability", "Fig 3, A18",
           "Variability of input-unit gradients within units (CV_u) and across units (CV_l) per layer",
           ("unit-gradients",), ("cv-within-units", "cv-across-units")),
    Figure("figA19_unit_gradient_mean_std", "05_unit_gradient_variability", "Fig A17, A19",
           "Mean and standard deviations of input-unit gradients per layer", ("unit-gradients",)),
    Figure("figA11a_layer_selectivity_augmix", "06_augmix_selectivity", "Fig A11a",
           "Class selectivity per layer, AugMix against the alpha grid", claims=("augmix",)),
    Figure("figA11b_selectivity_augmix", "06_augmix_selectivity", "Fig A11b",
           "Mean class selectivity, AugMix against the alpha grid", claims=("augmix",)),
    Figure("figA16_pgd_training_selectivity", "07_pgd_training_selectivity", "Fig A16",
           "Selectivity, dead units and selectivity of live units against PGD-training steps",
           claims=("pgd-training",)),
    Figure("figA15_imagenet_a", "08_natural_adversarial", "Fig A15", "ImageNet-A accuracy against alpha",
           ("natural-adversarial",), datasets=("tinyimagenet",),
           only_if="ImageNet-A is in the data folder"),
)
