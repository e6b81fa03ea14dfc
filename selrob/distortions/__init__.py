"""Image types of the second paper's Table 3 beyond the common corruptions: each a batched,
seeded transform of uint8 images that keeps one cue and removes another.

* :mod:`.scramble`: shape-less images, a p x p grid of patches randomly permuted (Table 3d, Fig A1);
* :mod:`.contours`: B&W images, binarised, traced with potrace and the SVG rasterised (Table 3f);
* :mod:`.segmentation`: silhouettes of photographs from a segmentation model (Table 3g, ImageNet);
* :mod:`.image_types`: the distorted test sets made with them, aligned with the clean test set and cached.
"""
