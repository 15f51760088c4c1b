"""``mrframe export``: a trained network for inference outside mrframe.

* :mod:`.standalone`: the network as a function of plain tensors (inputs, masks, calendar, frames -> each head's
  prediction), ``torch.export`` and ONNX of it, and finding the block that cannot be exported;
* :mod:`.artefact`: the export directory (``model.pt2``, ``model.onnx``, ``model.json``, ``README.md``,
  ``example.npz``), checked against the framework's own predictions.
"""
