"""The compute floor of a step: the floating-point operations it needs and how fast this machine multiplies matrices.

:func:`count_flops` counts with ``torch.utils.flop_counter`` (matrix products, convolutions, attention), with two
corrections for what that counter gets wrong on CPU in torch 2.13:

* CPU flash attention (``_scaled_dot_product_flash_attention_for_cpu`` and its backward) is not counted at all.
  Here it counts, like torch's formulas for the other attention kernels, 2 matrix products forward and 5
  backward (scores recomputed, then the gradients of values, scores, queries and keys), but only over the
  query-key pairs the attention allows: the causal triangle for ``is_causal``, the unmasked entries of a mask.
  Work a kernel spends on masked pairs is not counted, so the floor is what the model needs, not what a
  kernel happens to do.
* The backward of a grouped (depthwise) convolution is counted as if the convolution were dense (``groups``
  times too much); here each gradient it computes counts as much as the forward.

Elementwise work (softmax, normalisation, activations, dropout, the optimizer) counts nothing: the floor is
the time the step's matrix products and attention need at the machine's best matrix-product throughput
(:func:`matmul_throughput`), a lower bound that no implementation can beat.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

aten = torch.ops.aten


def _allowed_pairs(query: torch.Tensor, key: torch.Tensor, is_causal: bool, mask: torch.Tensor | None) -> int:
    """Query-key pairs (summed over batch and heads) that the attention lets through."""
    *batch, queries, _ = query.shape
    keys = key.shape[-2]
    heads = int(torch.Size(batch).numel())
    if mask is not None:
        allowed = mask if mask.dtype == torch.bool else torch.isfinite(mask)
        return int(allowed.expand(*batch, queries, keys).sum())
    if is_causal:  # query i sees keys 0..i (top-left aligned, as SDPA does)
        rows = torch.arange(queries).clamp(max=keys - 1) + 1
        return heads * int(rows.sum())
    return heads * queries * keys


def _attention_forward(query, key, value, dropout_p=0.0, is_causal=False, *, attn_mask=None, scale=None,
                       out_val=None, **kwargs) -> int:  # noqa: ANN001, ANN003
    pairs = _allowed_pairs(query, key, is_causal, attn_mask)
    return 2 * pairs * query.shape[-1] + 2 * pairs * value.shape[-1]


def _attention_backward(grad_out, query, key, value, out, logsumexp, dropout_p, is_causal, *, attn_mask=None,
                        scale=None, out_val=None, **kwargs) -> int:  # noqa: ANN001, ANN003
    pairs = _allowed_pairs(query, key, is_causal, attn_mask)
    return 2 * pairs * (3 * query.shape[-1] + 2 * value.shape[-1])


def _convolution_backward(grad_out, x, w, bias_sizes, stride, padding, dilation, transposed, output_padding,
                          groups, output_mask, out_val=None, **kwargs) -> int:  # noqa: ANN001, ANN003
    forward = conv_flop_count(list(x.shape), list(w.shape), list(grad_out.shape), transposed)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


for _formula in (_attention_forward, _attention_backward, _convolution_backward):
    _formula._get_raw = True  # the formulas read the tensors (masks), not only their shapes

CORRECTIONS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _attention_forward,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _attention_backward,
    aten.convolution_backward: _convolution_backward,
}


def count_flops(run: Callable[[], Any]) -> tuple[int, dict[str, int]]:
    """Floating-point operations of ``run()`` (a whole training step): the total and the count per op."""
    counter = FlopCounterMode(display=False, custom_mapping=CORRECTIONS)
    with counter:
        run()
    per_op = {str(op).split(".")[-1]: n for op, n in counter.get_flop_counts()["Global"].items()}
    return counter.get_total_flops(), per_op


def matmul_throughput(dtype: torch.dtype, size: int = 2048, repeats: int = 12,
                      clock: Callable[[], float] = time.perf_counter) -> float:
    """The best FLOP/s of an ``size x size`` matrix product in ``dtype`` on the current thread count.

    ``clock`` is wall-clock time by default; ``time.process_time`` gives FLOP per CPU second (at 1 thread, the
    throughput while the process runs, whatever else shares the CPU)."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = clock()
        torch.mm(a, b)
        best = min(best, clock() - started)
    return 2 * size**3 / best
