"""Inputs and invariant checks shared by the mrframe-han tests (imported through conftest's sys.path entry).

Models are built exactly as ``mrframe run`` builds them (:func:`mrframe.spec.build_spec` +
:class:`mrframe.model.AssembledModel`), from small spec documents, and fed random ``Observed`` windows with a
real calendar, so every invariant is checked on the assembled model, not on a block in isolation only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mrframe.interfaces import SourceInfo, TargetInfo
from mrframe.model import AssembledModel
from mrframe.observed import Calendar, Observed, State
from mrframe.spec import build_spec

BATCH, DAYS, MONTHS, WIDTH = 3, 120, 3, 16  # the first days lie before the monthly window
ANCHORS = ("2024-03-14", "2024-05-31", "2024-07-01")  # a mid-month, a month-end and a month-start anchor
DAILY = {"d1": 5, "d2": 3}
MONTHLY = {"m1": 4, "m2": 2}
COUNTS = {"d2": ("x0", "x2")}


def calendar(anchors: tuple[str, ...] = ANCHORS, days: int = DAYS, months: int = MONTHS) -> Calendar:
    """The calendar of windows ending on ``anchors`` (same arithmetic as the data pipeline)."""
    anchor = np.array(anchors, dtype="datetime64[D]").astype(np.int64)
    day = anchor[:, None] - np.arange(days - 1, -1, -1)
    month = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    anchor_month = anchor.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    first = anchor_month - months
    return Calendar(
        weekday=torch.from_numpy((day + 3) % 7),
        month_of_year=torch.from_numpy(month % 12),
        month_slot=torch.from_numpy(month - first[:, None]),
        monthly_month_of_year=torch.from_numpy((first[:, None] + np.arange(months)) % 12),
        anchor_day=torch.from_numpy(anchor),
    )


def source_infos(daily: Mapping[str, int] = DAILY, monthly: Mapping[str, int] = MONTHLY) -> dict[str, SourceInfo]:
    infos = {}
    for resolution, sources in (("daily", daily), ("monthly", monthly)):
        for name, n in sources.items():
            infos[name] = SourceInfo(name, resolution, tuple(f"x{i}" for i in range(n)), COUNTS.get(name, ()))
    return infos


def raw_inputs(infos: Mapping[str, SourceInfo], seed: int = 0, missing: float = 0.2) -> dict[str, np.ndarray]:
    """Raw windows with NaN at missing places (heavy-tailed values for count features)."""
    rng = np.random.default_rng(seed)
    raw = {}
    for name, info in infos.items():
        steps = DAYS if info.resolution == "daily" else MONTHS
        values = rng.standard_normal((BATCH, steps, info.n_features))
        for j, feature in enumerate(info.features):
            if feature in info.counts:
                values[..., j] = rng.poisson(3.0, values.shape[:2]) * rng.choice([1, 50], values.shape[:2])
        values[rng.random(values.shape) < missing] = np.nan
        raw[name] = values.astype(np.float32)
    return raw


def observe(raw: Mapping[str, np.ndarray]) -> dict[str, Observed]:
    return {name: Observed.build(torch.from_numpy(values)) for name, values in raw.items()}


def spec_document(
    encoders: Mapping[str, Any] | None = None,
    fusion: list[dict] | None = None,
    heads: Mapping[str, Any] | None = None,
    infos: Mapping[str, SourceInfo] | None = None,
) -> dict:
    """A small spec over the synthetic sources of :func:`source_infos` (never loaded: tests feed tensors)."""
    infos = infos if infos is not None else source_infos()
    sources = {
        name: {"plugin": "synthetic", "resolution": info.resolution, "features": info.n_features}
        for name, info in infos.items()
    }
    if encoders is None:
        encoders = {
            name: {"plugin": f"{info.resolution}-transformer", "layers": 1, "heads": 2}
            for name, info in infos.items()
        }
    return {
        "version": 1,
        "data": {"daily_window": DAYS, "monthly_window": MONTHS, "split": {"val_from": "2024-01-01"}},
        "model": {"d_model": WIDTH},
        "sources": sources,
        "encoders": dict(encoders),
        "fusion": list(fusion or []),
        "heads": {name: with_loss(head) for name, head in (heads or {"next": {"plugin": "forecast", "target": {
            "source": "m1", "horizon": 1}}}).items()},
    }


LOSSES = {"point": "masked-mse", "gaussian": "gaussian-nll", "binary": "focal", "classes": "cross-entropy",
          "zinb": "zinb", "covariance": "eigh-covariance"}


def with_loss(head: Mapping[str, Any]) -> dict:
    """A head table with a loss of the kind the head predicts (the tests feed tensors; any fitting loss does)."""
    from mrframe import registry
    from mrframe.config import structure

    table = {k: v for k, v in head.items() if k not in ("target", "loss")}
    cls = registry.load("head", table.pop("plugin"))
    kind = cls.kind_for(structure(cls.Config, table))
    return {**head, "loss": {"plugin": LOSSES[kind]}}


def build_model(document: dict, infos: Mapping[str, SourceInfo] | None = None) -> AssembledModel:
    """The assembled model of ``document``, with target infos resolved like the data pipeline does."""
    infos = infos if infos is not None else source_infos()
    spec = build_spec(document)
    targets = {}
    for task, head in spec.heads.items():
        info = infos[head.target.source]
        features = head.target.features or info.features
        targets[task] = TargetInfo(task, info.name, info.resolution, tuple(features), head.target.horizon,
                                   head.target.span, head.target.units)
    torch.manual_seed(0)
    return AssembledModel(spec, {n: infos[n] for n in spec.inputs}, targets)


def run(model: AssembledModel, inputs: Mapping[str, Observed], cal: Calendar, train: bool, seed: int = 0):
    """One seeded forward/backward: predictions, the streams every stage produced (each encoder's by source
    name, the state after each fusion block as ``fusion[i].daily`` / ``.monthly``) and parameter gradients."""
    model.train(train)
    model.zero_grad(set_to_none=True)
    streams: dict[str, Tensor] = {}
    handles = [
        encoder.register_forward_hook(lambda m, a, out, name=name: streams.__setitem__(name, out.hidden))
        for name, encoder in model.encoders.items()
    ]

    def keep(i: int, state: State) -> None:
        for resolution in ("daily", "monthly"):
            if getattr(state, resolution) is not None:
                streams[f"fusion[{i}].{resolution}"] = getattr(state, resolution).hidden

    handles += [block.register_forward_hook(lambda m, a, out, i=i: keep(i, out)) for i, block in enumerate(model.fusion)]
    torch.manual_seed(seed)
    try:
        predictions = model(dict(inputs), cal)
    finally:
        for handle in handles:
            handle.remove()
    loss = sum(leaf.float().square().mean() for leaf in leaves(predictions))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return predictions, streams, grads


def leaves(tree: Any) -> list[Tensor]:
    """Every tensor in a prediction (tensor or nested dicts)."""
    if isinstance(tree, Tensor):
        return [tree]
    if isinstance(tree, Mapping):
        return [t for key in sorted(tree) for t in leaves(tree[key])]
    raise TypeError(f"unexpected prediction part {type(tree).__name__}")


def assert_bitwise(a: Any, b: Any, what: str) -> None:
    left, right = leaves(a), leaves(b)
    assert len(left) == len(right), what
    for x, y in zip(left, right, strict=True):
        assert torch.equal(x, y), f"{what}: differs by up to {(x.float() - y.float()).abs().max().item():.3g}"


def assert_finite(tree: Any, what: str) -> None:
    for t in leaves(tree):
        assert torch.isfinite(t).all(), f"{what}: {int((~torch.isfinite(t)).sum())} non-finite values"


# ------------------------------------------------------------------------------------------- masked input


def masked_variants(raw: Mapping[str, np.ndarray]) -> dict[str, dict[str, Observed]]:
    """The same observations with different garbage at every unobserved place: written before the
    constructor (as 1e30 with the mask given, as the sentinel -999, as NaN) or into ``values`` after it."""
    masks = {n: ~np.isnan(v) for n, v in raw.items()}

    def fill(value: float) -> dict[str, np.ndarray]:
        return {n: np.where(masks[n], v, np.float32(value)) for n, v in raw.items()}

    after = {}
    for n, v in raw.items():
        clean = Observed.build(torch.from_numpy(v))
        garbage = torch.where(clean.mask, clean.values, torch.full_like(clean.values, float("nan")))
        garbage[..., 0] = torch.where(clean.mask[..., 0], garbage[..., 0], torch.tensor(-3e38))
        after[n] = Observed._trusted(garbage, clean.mask)  # someone edited values after construction
    return {
        "NaN": observe(raw),
        "1e30 with mask": {n: Observed.build(torch.from_numpy(v), torch.from_numpy(masks[n]))
                           for n, v in fill(1e30).items()},
        "-999 sentinel": {n: Observed.build(torch.from_numpy(v), sentinels=(-999.0,)) for n, v in fill(-999.0).items()},
        "edited after construction": after,
    }


# --------------------------------------------------------------------------------------------- scenarios


def unobserved(raw: Mapping[str, np.ndarray], where: Callable[[str, np.ndarray], None]) -> dict[str, np.ndarray]:
    """A copy of ``raw`` where ``where(name, array)`` writes NaN into the parts to hide."""
    out = {n: v.copy() for n, v in raw.items()}
    for n, v in out.items():
        where(n, v)
    return out


def missing_scenarios(raw: Mapping[str, np.ndarray], infos: Mapping[str, SourceInfo]) -> dict[str, dict]:
    """Windows in which a source, every daily source for 36 days, or a whole sample is unobserved (and one
    with extreme finite values)."""
    first_daily = next(n for n, i in infos.items() if i.resolution == "daily")
    first_monthly = next((n for n, i in infos.items() if i.resolution == "monthly"), None)

    def hide_source(names: tuple[str, ...]) -> Callable[[str, np.ndarray], None]:
        def where(n: str, v: np.ndarray) -> None:
            if n in names:
                v[:] = np.nan
        return where

    def daily_outage(n: str, v: np.ndarray) -> None:
        if infos[n].resolution == "daily":
            v[:, -50:-14] = np.nan  # 36 consecutive days, ending 14 days before the anchor

    def empty_sample(n: str, v: np.ndarray) -> None:
        v[0] = np.nan

    def empty_batch(n: str, v: np.ndarray) -> None:
        v[:] = np.nan

    def extreme(n: str, v: np.ndarray) -> None:
        v[:, ::3] = np.where(np.isnan(v[:, ::3]), np.nan, np.sign(v[:, ::3]) * 3e38)  # finite, near float32's max

    scenarios = {
        "observed values of +-3e38": extreme,
        "a daily source unobserved for the whole window": hide_source((first_daily,)),
        "every daily source unobserved for 36 days": daily_outage,
        "a sample with no observation at all": empty_sample,
        "a batch with no observation at all": empty_batch,
    }
    if first_monthly is not None:
        scenarios["a monthly source unobserved for the whole window"] = hide_source((first_monthly,))
    return {label: unobserved(raw, where) for label, where in scenarios.items()}


# ------------------------------------------------------------------------------------------------ causality


def perturb_after(raw: Mapping[str, np.ndarray], infos: Mapping[str, SourceInfo], cal: Calendar, day: int,
                  seed: int = 1) -> dict[str, np.ndarray]:
    """New values and missingness on every day after ``day`` and in every month that had not ended by then."""
    rng = np.random.default_rng(seed)
    visible = cal.month_slot[:, day].numpy()  # slots < visible[b] ended before day
    out = {}
    for n, v in raw.items():
        v = v.copy()
        noise = rng.standard_normal(v.shape).astype(np.float32) * 3
        noise[rng.random(v.shape) < 0.3] = np.nan
        if infos[n].resolution == "daily":
            v[:, day + 1 :] = noise[:, day + 1 :]
        else:
            for b in range(v.shape[0]):
                v[b, max(visible[b], 0) :] = noise[b, max(visible[b], 0) :]
        out[n] = v
    return out


def random_state(infos: Mapping[str, SourceInfo], seed: int = 0, absent: float = 0.2) -> State:
    """A state with random streams for every source (each step absent with probability ``absent``) and their
    presence-weighted combinations, as the assembled model hands to the first fusion block."""
    from mrframe.model import combine_streams
    from mrframe.observed import Stream

    generator = torch.Generator().manual_seed(seed)
    streams = {}
    for name, info in infos.items():
        steps = DAYS if info.resolution == "daily" else MONTHS
        hidden = torch.randn(BATCH, steps, WIDTH, generator=generator)
        streams[name] = Stream(hidden, torch.rand(BATCH, steps, generator=generator) >= absent)
    by = {r: [s for n, s in streams.items() if infos[n].resolution == r] for r in ("daily", "monthly")}
    return State(combine_streams(by["daily"]), combine_streams(by["monthly"]), streams, calendar())
