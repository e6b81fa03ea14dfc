"""The second paper's ImageNet model zoo: standard and robust AlexNet, GoogLeNet and ResNet-50.

* :mod:`~selrob.zoo.entries`: the table of models and S/R pairs (URLs, checksums, formats, key
  mappings, preprocessing, published accuracy, citations);
* :mod:`~selrob.zoo.checkpoints`: reading checkpoints without running code, mapping their keys;
* :mod:`~selrob.zoo.networks`: torchvision architectures behind their normalisation, and the
  dissected post-ReLU layers;
* :mod:`~selrob.zoo.weights`: download, import, conversion and the on-disk layout;
* :mod:`~selrob.zoo.sources`: zoo models as model sources, evaluated on ImageNet's validation set;
* :mod:`~selrob.zoo.commands`: what ``selrob zoo`` prints.
"""

from selrob.zoo.entries import ENTRIES, PAIRS, ModelPair, ZooEntry, get_entry, get_pair
from selrob.zoo.networks import build_model, build_network, dissected_layers
from selrob.zoo.sources import ZooModel, pair_sources, zoo_model
from selrob.zoo.weights import download, import_checkpoint, load_weights, status

__all__ = [
    "ENTRIES",
    "PAIRS",
    "ModelPair",
    "ZooEntry",
    "ZooModel",
    "build_model",
    "build_network",
    "dissected_layers",
    "download",
    "get_entry",
    "get_pair",
    "import_checkpoint",
    "load_weights",
    "pair_sources",
    "status",
    "zoo_model",
]
