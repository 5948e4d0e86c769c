"""The fused training kernel: one epoch of `Embedding -> Flatten|GlobalAveragePooling1D ->
Dense(1, sigmoid)` with Keras' RMSprop and binary cross-entropy, compiled by Numba.

Imported only by `embtui.engine.fused`, which sets NUMBA_CACHE_DIR first (the compiled
code is cached in embtui's cache folder) and validates every token id before a kernel runs:
the kernels index the embedding table without bounds checks.

Every quantity is float32 and follows the order of Keras' own operations where that order
decides the rounding (the RMSprop update, the loss and its gradient, the per-batch loss
means that Keras' loss tracker adds up). Only the dot products and the sums over a batch,
whose order inside TensorFlow's kernels is not Keras' to choose either, may be reassociated
(`_SUMS`), so that they vectorise. The updates themselves are compiled without fast-math:
no fused multiply-add, no reassociation.

Keras' RMSprop decays every row of the embedding's velocity every step; here a row's
missed decays are applied when a batch next touches it (`v * rho^k`, with rho^k from a
table built by repeated float32 multiplication), and every row is brought up to date at
the end of each epoch (`catch_up`), so the velocity between epochs is what Keras holds
(to float32 rounding). Rows without a gradient do not move, as in Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

#: Dot products and sums over examples: reassociated so that they vectorise.
_SUMS = {"reassoc", "contract"}


def _compiled(fastmath: set[str] | bool = False) -> Any:
    """Numba's `njit` with embtui's options: cached in NUMBA_CACHE_DIR; the GIL released
    (two runs train at once in two threads); division by zero as IEEE says (numpy's error
    model) rather than a check per division, which would stop vectorisation; no bounds
    checks (token ids are checked before a kernel runs)."""
    return njit(cache=True, nogil=True, error_model="numpy", boundscheck=False, fastmath=fastmath)


@_compiled(_SUMS)
def _logits(x, examples, nb, emb, kernel, bias, avgpool, h):
    """The logit of each of the batch's `nb` examples (rows of x named by `examples`); with
    `avgpool`, each example's mean embedding is left in `h[i]`."""
    maxlen = x.shape[1]
    dim = emb.shape[1]
    z = np.empty(nb, np.float32)
    inv_t = np.float32(maxlen)
    for i in range(nb):
        ex = examples[i]
        acc = np.float32(0.0)
        if avgpool:
            for d in range(dim):
                h[i, d] = np.float32(0.0)
            for t in range(maxlen):
                r = x[ex, t]
                for d in range(dim):
                    h[i, d] += emb[r, d]
            for d in range(dim):
                h[i, d] = h[i, d] / inv_t
                acc += h[i, d] * kernel[d]
        else:
            for t in range(maxlen):
                r = x[ex, t]
                base = t * dim
                for d in range(dim):
                    acc += emb[r, d] * kernel[base + d]
        z[i] = acc + bias[0]
    return z


@_compiled(_SUMS)
def _kernel_grad(x, examples, nb, emb, dz, avgpool, h, grad):
    """The Dense kernel's and bias's gradients (`grad[:-1]`, `grad[-1]`) for the batch."""
    maxlen = x.shape[1]
    dim = emb.shape[1]
    for j in range(grad.shape[0]):
        grad[j] = np.float32(0.0)
    nk = grad.shape[0] - 1
    for i in range(nb):
        g = dz[i]
        if avgpool:
            for d in range(dim):
                grad[d] += h[i, d] * g
        else:
            ex = examples[i]
            for t in range(maxlen):
                r = x[ex, t]
                base = t * dim
                for d in range(dim):
                    grad[base + d] += emb[r, d] * g
        grad[nk] += g


@_compiled()
def _loss_and_grad(z, y, examples, nb):
    """Per-example BCE from logits, as `tf.nn.sigmoid_cross_entropy_with_logits` computes
    it, its batch sum, the number of correct predictions (sigmoid > 0.5), and the gradient
    of the batch mean with respect to each logit, as TensorFlow differentiates that formula
    (max(z, 0) - z*y + log1p(exp(-|z|)), upstream 1/nb from the mean)."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    half = np.float32(0.5)
    g = one / np.float32(nb)
    dz = np.empty(nb, np.float32)
    total = zero
    correct = 0
    for i in range(nb):
        zi = z[i]
        yi = y[examples[i]]
        positive = zi >= zero
        relu = zi if positive else zero
        neg_abs = -zi if positive else zi
        e = np.exp(neg_abs)
        total += (relu - zi * yi) + np.log1p(e)
        # d/dz: relu's select, -y from z*y, and log1p(exp(.)) through the select of -|z|
        through_log = (g * (one / (one + e))) * e
        if positive:
            dz[i] = (g - g * yi) - through_log
        else:
            dz[i] = through_log - g * yi
        p = one / (one + np.exp(-zi))
        if (p > half) == (yi > half):
            correct += 1
    return total, correct, dz


@_compiled()
def _update_row(
    emb,
    emb_v,
    r,
    occ,
    occ_base,
    first,
    stop,
    dz,
    kernel,
    maxlen,
    avgpool,
    lr,
    rho,
    one_minus_rho,
    eps,
    decay,
    squares,
    den,
):
    """One step of Keras' RMSprop for embedding row r (of `emb`; its velocity in `emb_v`).

    The row's occurrences in the batch are first..stop-1, in batch order: occ[q] is the
    example (its logit gradient dz[occ[q]]), occ_base[q] its position's offset t * dim in
    the Dense kernel. Keras sums (1 - rho) * g^2 over the occurrences, sets v = rho * v +
    that sum (here after the row's missed decays, `decay` = rho^k), then subtracts each
    occurrence's lr * g / sqrt(v + eps) in turn (a scatter-sub)."""
    dim = emb.shape[1]
    steps = np.float32(maxlen)
    for d in range(dim):
        squares[d] = np.float32(0.0)
    for q in range(first, stop):
        g = dz[occ[q]]
        if avgpool:
            for d in range(dim):
                gv = (g * kernel[d]) / steps
                squares[d] += one_minus_rho * (gv * gv)
        else:
            base = occ_base[q]
            for d in range(dim):
                gv = g * kernel[base + d]
                squares[d] += one_minus_rho * (gv * gv)
    for d in range(dim):
        fresh = rho * (emb_v[r, d] * decay) + squares[d]
        emb_v[r, d] = fresh
        den[d] = np.sqrt(fresh + eps)
    for q in range(first, stop):
        g = dz[occ[q]]
        if avgpool:
            for d in range(dim):
                emb[r, d] -= (lr * ((g * kernel[d]) / steps)) / den[d]
        else:
            base = occ_base[q]
            for d in range(dim):
                emb[r, d] -= (lr * (g * kernel[base + d])) / den[d]


@_compiled()
def train_epoch(
    x,
    y,
    order,
    batch_size,
    emb,
    emb_v,
    last,
    kernel,
    kernel_v,
    bias,
    bias_v,
    lr,
    rho,
    one_minus_rho,
    eps,
    powers,
    avgpool,
    train_emb,
):
    """One epoch over `order` in batches of `batch_size`; returns (the float32 sum of
    batch-mean loss x batch size, as Keras' loss tracker adds it up, correct count, steps).

    `last[r]` is the step (1-based within this epoch; 0 = its start) after which row r's
    velocity was last brought up to date; it is 0 for every row on entry and on exit.
    """
    n = order.shape[0]
    maxlen = x.shape[1]
    vocab, dim = emb.shape
    nk = kernel.shape[0]
    grad = np.empty(nk + 1, np.float32)
    h = np.empty((batch_size, dim), np.float32)
    slot_of = np.full(vocab, -1, np.int32)
    rows = np.empty(batch_size * maxlen, np.int32)
    counts = np.zeros(batch_size * maxlen + 1, np.int32)
    starts = np.empty(batch_size * maxlen + 1, np.int32)
    occ = np.empty(batch_size * maxlen, np.int32)
    occ_base = np.empty(batch_size * maxlen, np.int32)
    occ_slot = np.empty(batch_size * maxlen, np.int32)
    c = np.empty(dim, np.float32)
    den = np.empty(dim, np.float32)
    loss_total = np.float32(0.0)
    correct = 0
    step = 0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        nb = stop - start
        examples = order[start:stop]
        step += 1
        z = _logits(x, examples, nb, emb, kernel, bias, avgpool, h)
        batch_sum, hits, dz = _loss_and_grad(z, y, examples, nb)
        size = np.float32(nb)
        loss_total += (batch_sum / size) * size
        correct += hits
        _kernel_grad(x, examples, nb, emb, dz, avgpool, h, grad)
        if train_emb:
            # The batch's distinct rows in first-seen order, and each row's occurrences in
            # batch order (a counting sort): Keras sums a row's occurrences in that order.
            nrows = 0
            for i in range(nb):
                ex = examples[i]
                for t in range(maxlen):
                    r = x[ex, t]
                    s = slot_of[r]
                    if s < 0:
                        s = nrows
                        slot_of[r] = s
                        rows[s] = r
                        counts[s] = 0
                        nrows += 1
                    counts[s] += 1
                    occ_slot[i * maxlen + t] = s
            starts[0] = 0
            for s in range(nrows):
                starts[s + 1] = starts[s] + counts[s]
                counts[s] = starts[s]
            k = 0
            for i in range(nb):
                for t in range(maxlen):
                    s = occ_slot[k]
                    occ[counts[s]] = i
                    occ_base[counts[s]] = t * dim
                    counts[s] += 1
                    k += 1
            for s in range(nrows):
                r = rows[s]
                slot_of[r] = -1
                decay = powers[step - 1 - last[r]]
                last[r] = step
                _update_row(
                    emb, emb_v, r, occ, occ_base, starts[s], starts[s + 1], dz, kernel, maxlen,
                    avgpool, lr, rho, one_minus_rho, eps, decay, c, den,
                )  # fmt: skip
        for j in range(nk):
            g = grad[j]
            v = rho * kernel_v[j] + one_minus_rho * (g * g)
            kernel_v[j] = v
            kernel[j] -= (lr * g) / np.sqrt(v + eps)
        g = grad[nk]
        v = rho * bias_v[0] + one_minus_rho * (g * g)
        bias_v[0] = v
        bias[0] -= (lr * g) / np.sqrt(v + eps)
    if train_emb:
        catch_up(emb_v, last, step, powers)
    return loss_total, correct, step


@_compiled()
def catch_up(emb_v, last, step, powers):
    """Apply every row's decays missed since it was last touched, up to `step`; every row
    is then up to date (`last` back to 0 for the next epoch)."""
    vocab, dim = emb_v.shape
    for r in range(vocab):
        k = step - last[r]
        last[r] = 0
        if k > 0:
            decay = powers[k]
            for d in range(dim):
                emb_v[r, d] = emb_v[r, d] * decay


@_compiled()
def validate(x, y, batch_size, emb, kernel, bias, avgpool):
    """Loss and correct count over (x, y) in batches of `batch_size`, as Keras' `evaluate`
    inside `fit` adds them up: the float32 sum of batch-mean loss x batch size."""
    n = x.shape[0]
    dim = emb.shape[1]
    h = np.empty((batch_size, dim), np.float32)
    loss_total = np.float32(0.0)
    correct = 0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        nb = stop - start
        examples = np.empty(nb, np.int32)  # the type training's batches have
        for i in range(nb):
            examples[i] = start + i
        z = _logits(x, examples, nb, emb, kernel, bias, avgpool, h)
        batch_sum, hits, _ = _loss_and_grad(z, y, examples, nb)
        size = np.float32(nb)
        loss_total += (batch_sum / size) * size
        correct += hits
    return loss_total, correct


def rho_powers(rho: np.float32, steps: int) -> np.ndarray:
    """rho^0 .. rho^steps in float32, each the previous times rho (as Keras' repeated
    decays would round)."""
    powers = np.empty(steps + 1, np.float32)
    powers[0] = np.float32(1.0)
    for k in range(1, steps + 1):
        powers[k] = powers[k - 1] * rho
    return powers
