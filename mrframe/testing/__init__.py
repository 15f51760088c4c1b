"""The conformance kit: what every plugin (first-party or not) must satisfy, one named promise at a time.

::

    from mrframe.testing import check_encoder

    def test_my_encoder_conforms():
        check_encoder(MyEncoder)                 # or a registered name: check_encoder("my-encoder")

Each plugin kind makes a list of promises (:func:`mrframe.testing.promises.promises`): shapes and dtypes,
bitwise masked-input invariance, use of the mask, finite outputs and gradients on extreme and on fully masked
inputs, causality at every step, independent samples, a batch of one, float64, ``state_dict`` round trip,
determinism under a seed, a documented and bounded config, the loss / weighting / source guarantees, and what a
prediction kind declares. Each ``check_*`` runs every promise of its kind and raises one
:class:`ConformanceError` (an ``AssertionError``) naming the plugin and every promise it breaks. The pytest
plugin (:mod:`mrframe.testing.pytest_plugin`, registered under ``pytest11``) makes one test per promise and
offers fixtures.
"""

from mrframe.testing.common import ConformanceError
from mrframe.testing.encoders import check_encoder
from mrframe.testing.fusion import check_fusion
from mrframe.testing.heads import check_head
from mrframe.testing.kinds import check_prediction_kind
from mrframe.testing.losses import check_loss
from mrframe.testing.promises import NotApplicable, Promise, promises, run_promises
from mrframe.testing.sources import check_source
from mrframe.testing.weightings import check_weighting

CHECKS = {
    "source": check_source,
    "encoder": check_encoder,
    "fusion": check_fusion,
    "head": check_head,
    "loss": check_loss,
    "weighting": check_weighting,
    "prediction-kind": check_prediction_kind,
}
"""Plugin kind -> its check (every promise of the kind)."""


def check_plugin(kind: str, plugin: type | str, only: tuple[str, ...] | None = None, **options: object) -> None:
    """Run the promises of ``kind`` (those named in ``only``, or all) on ``plugin`` (a class or a registered
    name)."""
    if only is None:
        CHECKS[kind](plugin, **options)
    else:
        run_promises(kind, plugin, only, **options)


__all__ = ["ConformanceError", "CHECKS", "NotApplicable", "Promise", "check_plugin", "promises", "check_source",
           "check_encoder", "check_fusion", "check_head", "check_loss", "check_weighting", "check_prediction_kind"]
