"""The conformance kit: what every plugin (first-party or not) must satisfy, checked in one call.

::

    from mrframe.testing import check_encoder

    def test_my_encoder_conforms():
        check_encoder(MyEncoder)                 # or a registered name: check_encoder("my-encoder")

Each ``check_*`` raises :class:`ConformanceError` (an ``AssertionError``) naming the plugin and the promise it
breaks: shapes and dtypes, bitwise masked-input invariance, finite outputs and gradients on extreme and on
fully masked inputs, causality where the kind is temporal, ``state_dict`` round trip, determinism under a
seed, a documented config class, the loss / weighting guarantees, and what a prediction kind declares. The pytest plugin
(:mod:`mrframe.testing.pytest_plugin`, registered under ``pytest11``) offers the same as fixtures.
"""

from mrframe.testing.common import ConformanceError
from mrframe.testing.encoders import check_encoder
from mrframe.testing.fusion import check_fusion
from mrframe.testing.heads import check_head
from mrframe.testing.kinds import check_prediction_kind
from mrframe.testing.losses import check_loss
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
"""Plugin kind -> its check."""


def check_plugin(kind: str, plugin: type | str, **options: object) -> None:
    """Run the check of ``kind`` on ``plugin`` (a class or a registered name)."""
    CHECKS[kind](plugin, **options)


__all__ = ["ConformanceError", "CHECKS", "check_plugin", "check_source", "check_encoder", "check_fusion",
           "check_head", "check_loss", "check_weighting", "check_prediction_kind"]
