"""Conversion of ConvE models from PyKEEN and from the seed project into kgif checkpoints.

Two foreign layouts are read (``torch.load(weights_only=True)`` unless the caller trusts the file):

* **PyKEEN** (``pykeen.models.ConvE``, PyKEEN 1.10/1.11): state-dict keys
  ``entity_representations.0._embeddings.weight (N, d)``, the entity bias
  ``entity_representations.1._embeddings.weight (N, 1)``,
  ``relation_representations.0._embeddings.weight (R', d)`` (``R' = 2R`` with inverse triples:
  relation k at row 2k, its inverse at 2k + 1, as in kgif), and the interaction layers
  ``interaction.hr2d.{0,2,3}`` (bn0, conv, bn1) and ``interaction.hr1d.{0,2}`` (fc, bn2); without
  batch normalisation the conv is ``interaction.hr2d.1``. The head and relation images are
  stacked along the height. Converting is renaming (plus a reshape of the bias).
* **The seed project** (james0032/TiePin, ``train_pytorch.py``): ``model_state_dict`` keys
  ``entity_embeddings.weight``, ``relation_embeddings.weight`` (R rows, no inverses),
  ``conv1``, ``bn0``, ``bn1``, ``bn2``, ``fc``; no entity bias; head and relation images
  concatenated along the **width** (fc input ``C (H - kh + 1)(2W - kw + 1)``). It maps onto
  ``ConvEConfig(stacking="width", entity_bias=False, reciprocal=False)``, never onto the height
  layout. Its training forward applies input dropout *before* bn0 (kgif: after); attribution
  mode (no dropout) is unaffected.

Shapes fix everything but the image height H (and hence W = d / H): conv weight
``(C, 1, kh, kw)`` gives C and the kernel, fc weight ``(d, F)`` gives F, and each factorisation
H x W = d with matching F is a candidate. Several candidates raise a ValueError asking for
``config={"embedding_height": H}``.
"""


__all__ = []
