"""Everything fitted on the training period, in one place: fitted once, or re-applied from a checkpoint.

Per source, in order: the extreme-value bounds (:mod:`mrframe.data.extremes`: extremes are masked, refused or
kept before anything else is fitted), normalisation (:mod:`mrframe.data.transforms`, on every source: targets
use it too), then, for the sources that feed encoders, the correlation filter and PCA
(:mod:`mrframe.data.reduction`). Each is fitted on the rows available before ``data.split.val_from`` only
(:func:`~mrframe.data.transforms.training_rows`), so no value on or after that day changes any of them.

The state is a flat dict of plain tensors (``extremes.SOURCE.low``, ``normaliser.SOURCE.center``, ...) that
``torch.load(weights_only=True)`` reads back; :meth:`Preprocessing.from_state` checks it against the data it
is applied to and names what does not match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import torch

from mrframe.data.config import DataConfig
from mrframe.data.extremes import Extreme, ExtremeFilter
from mrframe.data.reduction import Reduction, fit_reduction
from mrframe.data.spatial import feature_rows
from mrframe.data.timeline import AlignedSource, Timeline
from mrframe.data.transforms import Normaliser, training_rows
from mrframe.errors import DataError


def _normaliser(config: DataConfig, names: Sequence[str]) -> Normaliser:
    per_source = {}
    for name in names:
        resolved = config.preprocessing(name)
        per_source[name] = (resolved.normalise, resolved.log1p_counts)
    return Normaliser(config.normalise, config.log1p_counts, per_source)


def _extreme_filter(config: DataConfig, names: Sequence[str]) -> ExtremeFilter:
    return ExtremeFilter({name: (config.preprocessing(name).extremes, config.preprocessing(name).extreme_threshold)
                          for name in names})


@attrs.frozen(eq=False)
class Preprocessing:
    """The fitted extreme-value bounds and normaliser (every source) and reductions (input sources)."""

    normaliser: Normaliser
    reductions: dict[str, Reduction]
    extremes: ExtremeFilter = attrs.field(factory=lambda: ExtremeFilter({}))
    timeline: Timeline | None = None

    @classmethod
    def fit(cls, config: DataConfig, sources: Mapping[str, AlignedSource], inputs: Sequence[str],
            timeline: Timeline, fit_until_day: int) -> tuple[Preprocessing, dict[str, AlignedSource]]:
        """Fit on the training rows (:func:`~mrframe.data.transforms.training_rows` of ``fit_until_day``);
        returns the fitted preprocessing and the normalised sources (:meth:`scale`), which fitting needs."""
        rows = {name: training_rows(source, timeline, fit_until_day) for name, source in sources.items()}
        extremes = _extreme_filter(config, list(sources)).fit(sources, rows)
        sources = extremes.apply(sources, timeline)
        normaliser = _normaliser(config, list(sources)).fit(sources, timeline, fit_until_day)
        scaled = normaliser.transform(sources)
        reductions = {}
        for name in inputs:
            settings = config.preprocessing(name)
            reductions[name] = fit_reduction(feature_rows(scaled[name].values[rows[name]]), settings.correlation_filter,
                                             settings.pca, scaled[name].info)
        return cls(normaliser, reductions, extremes, timeline), scaled

    @classmethod
    def from_state(cls, config: DataConfig, state: Mapping[str, torch.Tensor], sources: Mapping[str, AlignedSource],
                   inputs: Sequence[str], timeline: Timeline | None = None) -> Preprocessing:
        """Re-apply a fitted state (:meth:`state_dict`) to ``sources``, checking that it fits them."""
        extremes = _extreme_filter(config, list(sources))
        extremes.load_state_dict(_section(state, "extremes."), sources)
        normaliser = _normaliser(config, list(sources))
        normaliser.load_state_dict(_section(state, "normaliser."))
        reduction_state = _section(state, "reduction.")
        reductions = {}
        for name, source in sources.items():
            n_features = source.info.n_features
            scaling = normaliser.scalings.get(name)
            if scaling is None:
                raise DataError(f"the fitted preprocessing has no source '{name}' (it was fitted for "
                                f"{', '.join(sorted(normaliser.scalings)) or 'no source'}); the spec's sources changed")
            if scaling.center.shape != (n_features,):
                raise DataError(f"source '{name}': the fitted preprocessing is for {scaling.center.shape[0]} features, "
                                f"the data has {n_features}; was the source's file or feature list changed?")
            if name in inputs:
                reductions[name] = _reduction_from_state(reduction_state, name, n_features,
                                                         config.preprocessing(name).pca is not None)
        return cls(normaliser, reductions, extremes, timeline)

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {f"extremes.{k}": v for k, v in self.extremes.state_dict().items()}
        state |= {f"normaliser.{k}": v for k, v in self.normaliser.state_dict().items()}
        for name, reduction in self.reductions.items():
            state |= reduction.state(f"reduction.{name}")
        return state

    def clean(self, sources: Mapping[str, AlignedSource]) -> dict[str, AlignedSource]:
        """Every source with its extremes handled as ``data.extremes`` says (raw-unit targets are cut from it)."""
        return self.extremes.apply(sources, self.timeline) if self.timeline is not None else dict(sources)

    def extreme_values(self, sources: Mapping[str, AlignedSource]) -> list[Extreme]:
        """What lies beyond the fitted bounds in ``sources`` (for the data report)."""
        return self.extremes.findings(sources, self.timeline) if self.timeline is not None else []

    def scale(self, sources: Mapping[str, AlignedSource]) -> dict[str, AlignedSource]:
        """Every source cleaned (:meth:`clean`) and normalised, all features kept (what targets are cut from)."""
        return self.normaliser.transform(self.clean(sources))

    def reduce(self, scaled: Mapping[str, AlignedSource]) -> dict[str, AlignedSource]:
        """The input sources as their encoders see them (after the correlation filter and PCA)."""
        out = {}
        for name, reduction in self.reductions.items():
            source = scaled[name]
            if reduction.identity:
                out[name] = source
            else:
                out[name] = attrs.evolve(source, info=reduction.info(source.info), values=reduction.apply(source.values))
        return out


def _reduction_from_state(state: Mapping[str, torch.Tensor], name: str, n_features: int, pca: bool) -> Reduction:
    """A source's reduction from its fitted state."""
    if f"{name}.keep" not in state:
        raise DataError(f"the fitted preprocessing has no reduction state for source '{name}'; it does not belong "
                        "to this spec")
    reduction = Reduction.from_state(state, name)
    if reduction.keep.shape != (n_features,):
        raise DataError(f"source '{name}': the fitted correlation filter is for {reduction.keep.shape[0]} features, "
                        f"the data has {n_features}")
    if pca != (reduction.components is not None):
        wanted, held = ("PCA", "none") if pca else ("no PCA", "one")
        raise DataError(f"source '{name}': the spec asks for {wanted} (data.preprocess.{name}.pca), but the fitted "
                        f"preprocessing holds {held}; use the spec the state was fitted with, or fit again")
    return reduction


def _section(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}
