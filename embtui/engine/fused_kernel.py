"""The fused training kernel: one epoch of `Embedding -> Flatten|GlobalAveragePooling1D ->
Dense(1, sigmoid)` with Keras' RMSprop and binary cross-entropy, compiled by Numba.

Imported only by `embtui.engine.fused`, which sets NUMBA_CACHE_DIR first (the compiled
code is cached in embtui's cache folder) and validates every token id before a kernel runs:
the kernel indexes the embedding table without bounds checks.

**One compiled kernel per shape.** `epoch_kernel(maxlen, dim, avgpool)` returns the kernel
for one sequence length, embedding width and head, with those three as compile-time
constants: the row loops then have fixed trip counts that the compiler vectorises without
remainder handling or runtime alias checks, about 1.5x faster than loops over run-time
sizes. Each shape compiles once (a few seconds) and is kept in Numba's on-disk cache, keyed
by those constants (they are the kernel's closure variables, which Numba hashes into the
cache key), so a sweep over `maxlen` compiles each length once per machine, not once per
run. One kernel serves both training and validation (`train=False`).

**Keras' arithmetic.** Every quantity is float32 and follows the order of Keras' own
operations where that order decides the rounding (the RMSprop update, the loss and its
gradient, the per-batch loss means that Keras' loss tracker adds up). Nothing is compiled
with fast-math: no fused multiply-add, no reassociation. The dot products and the sums over
a batch, whose order inside TensorFlow's kernels is not Keras' to choose either, are written
as per-lane partial sums so that they vectorise as written. Like TensorFlow, which flushes
subnormal floats to zero in the threads that run its ops, the kernel runs with the CPU's
flush-to-zero and denormals-are-zero modes on (x86-64; restored on return): gradients of
well-learned examples underflow late in a run, and the microcode that handles subnormals
made those epochs twice as slow.

Keras' RMSprop decays every row of the embedding's velocity every step; here a row's
missed decays are applied when a batch next touches it (`v * rho^k`, with rho^k from a
table built by repeated float32 multiplication), and every row is brought up to date at
the end of each epoch (`catch_up`), so the velocity between epochs is what Keras holds
(to float32 rounding). Rows without a gradient do not move, as in Keras.
"""

from __future__ import annotations

import functools
import platform
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

#: MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) modes, as TensorFlow sets.
FLUSH_DENORMALS = 0x8040

_X86 = platform.machine().lower() in ("x86_64", "amd64", "x86", "i386", "i686")


def _compiled() -> Any:
    """Numba's `njit` with embtui's options: cached in NUMBA_CACHE_DIR; the GIL released
    (two runs train at once in two threads); division by zero as IEEE says (numpy's error
    model) rather than a check per division, which would stop vectorisation; no bounds
    checks (token ids are checked before a kernel runs); no fast-math."""
    return njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)


def _mxcsr_call(builder: Any, name: str, slot: Any) -> None:
    fnty = ir.FunctionType(ir.VoidType(), [ir.PointerType(ir.IntType(8))])
    fn = builder.module.declare_intrinsic(name, fnty=fnty)
    builder.call(fn, [builder.bitcast(slot, ir.PointerType(ir.IntType(8)))])


def _read_fp_mode_typed(typingctx: Any) -> Any:
    """The calling thread's floating-point control word (MXCSR; 0 where not x86-64)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i32 = ir.IntType(32)
        if not _X86:
            return ir.Constant(i32, 0)
        slot = builder.alloca(i32)
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
        return builder.load(slot)

    return types.uint32(), codegen


def _write_fp_mode_typed(typingctx: Any, value: Any) -> Any:
    """Set the calling thread's floating-point control word (nothing where not x86-64)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        if _X86:
            slot = builder.alloca(ir.IntType(32))
            builder.store(args[0], slot)
            _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.void(types.uint32), codegen


# Called from compiled code only (typed by Numba, not by mypy).
_read_fp_mode: Any = intrinsic(_read_fp_mode_typed)
_write_fp_mode: Any = intrinsic(_write_fp_mode_typed)


@_compiled()
def _loss_and_grad(z, y, examples, nb, dz):
    """Per-example BCE from logits, as `tf.nn.sigmoid_cross_entropy_with_logits` computes
    it, its batch sum, the number of correct predictions (sigmoid > 0.5), and (into dz) the
    gradient of the batch mean with respect to each logit, as TensorFlow differentiates that
    formula (max(z, 0) - z*y + log1p(exp(-|z|)), upstream 1/nb from the mean)."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    half = np.float32(0.5)
    g = one / np.float32(nb)
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
    return total, correct


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


@functools.cache
def epoch_kernel(maxlen: int, dim: int, avgpool: bool) -> Any:
    """The compiled epoch for one shape (see the module docstring): loaded from Numba's
    cache, or compiled on its first call when this shape was never trained here."""
    MAXLEN, DIM, AVGPOOL = int(maxlen), int(dim), bool(avgpool)
    FEATURES = DIM if AVGPOOL else MAXLEN * DIM

    @_compiled()
    def run_epoch(
        x, y, order, batch_size, train, train_emb, emb, emb_v, last,
        kernel, kernel_v, bias, bias_v, lr, rho, one_minus_rho, eps, powers,
    ):  # fmt: skip
        """One pass over `order` in batches of `batch_size`: training (`train`) or scoring
        only. Returns (the float32 sum of batch-mean loss x batch size, as Keras' loss
        tracker adds it up, correct count, steps).

        `last[r]` is the step (1-based within this epoch; 0 = its start) after which row r's
        velocity was last brought up to date; it is 0 for every row on entry and on exit.
        """
        mode = _read_fp_mode()
        _write_fp_mode(mode | np.uint32(FLUSH_DENORMALS))
        n = order.shape[0]
        vocab = emb.shape[0]
        zero = np.float32(0.0)
        steps_f = np.float32(MAXLEN)
        grad = np.empty(FEATURES, np.float32)
        lanes = np.empty(DIM, np.float32)
        h = np.empty((batch_size, DIM), np.float32)
        z = np.empty(batch_size, np.float32)
        dz = np.empty(batch_size, np.float32)
        slot_of = np.full(vocab, -1, np.int32)
        cap = batch_size * MAXLEN
        rows = np.empty(cap, np.int32)
        counts = np.zeros(cap + 1, np.int32)
        starts = np.empty(cap + 1, np.int32)
        occ = np.empty(cap, np.int32)
        occ_base = np.empty(cap, np.int32)
        occ_slot = np.empty(cap, np.int32)
        squares = np.empty(DIM, np.float32)
        den = np.empty(DIM, np.float32)
        loss_total = zero
        correct = 0
        step = 0
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            nb = stop - start
            examples = order[start:stop]
            step += 1
            # forward: each example's logit (per-lane partial sums over the positions)
            for i in range(nb):
                ex = examples[i]
                for d in range(DIM):
                    lanes[d] = zero
                if AVGPOOL:
                    for t in range(MAXLEN):
                        r = x[ex, t]
                        for d in range(DIM):
                            lanes[d] += emb[r, d]
                    for d in range(DIM):
                        h[i, d] = lanes[d] / steps_f
                        lanes[d] = h[i, d] * kernel[d]
                else:
                    for t in range(MAXLEN):
                        r = x[ex, t]
                        base = t * DIM
                        for d in range(DIM):
                            lanes[d] += emb[r, d] * kernel[base + d]
                acc = zero
                for d in range(DIM):
                    acc += lanes[d]
                z[i] = acc + bias[0]
            batch_sum, hits = _loss_and_grad(z, y, examples, nb, dz)
            size = np.float32(nb)
            loss_total += (batch_sum / size) * size
            correct += hits
            if not train:
                continue
            # the Dense kernel's and bias's gradients
            for j in range(FEATURES):
                grad[j] = zero
            gb = zero
            for i in range(nb):
                g = dz[i]
                if AVGPOOL:
                    for d in range(DIM):
                        grad[d] += h[i, d] * g
                else:
                    ex = examples[i]
                    for t in range(MAXLEN):
                        r = x[ex, t]
                        base = t * DIM
                        for d in range(DIM):
                            grad[base + d] += emb[r, d] * g
                gb += g
            if train_emb:
                # The batch's distinct rows in first-seen order, and each row's occurrences
                # in batch order (a counting sort): Keras sums a row's occurrences in that
                # order.
                nrows = 0
                k = 0
                for i in range(nb):
                    ex = examples[i]
                    for t in range(MAXLEN):
                        r = x[ex, t]
                        s = slot_of[r]
                        if s < 0:
                            s = nrows
                            slot_of[r] = s
                            rows[s] = r
                            counts[s] = 0
                            nrows += 1
                        counts[s] += 1
                        occ_slot[k] = s
                        k += 1
                starts[0] = 0
                for s in range(nrows):
                    starts[s + 1] = starts[s] + counts[s]
                    counts[s] = starts[s]
                k = 0
                for i in range(nb):
                    for t in range(MAXLEN):
                        s = occ_slot[k]
                        occ[counts[s]] = i
                        occ_base[counts[s]] = t * DIM
                        counts[s] += 1
                        k += 1
                # One step of Keras' RMSprop per row: v = rho * v + the sum over the row's
                # occurrences of (1 - rho) * g^2 (after the row's missed decays, rho^k),
                # then each occurrence's lr * g / sqrt(v + eps) subtracted in turn.
                for s in range(nrows):
                    r = rows[s]
                    slot_of[r] = -1
                    decay = powers[step - 1 - last[r]]
                    last[r] = step
                    first, end = starts[s], starts[s + 1]
                    # Row views and per-occurrence kernel views: indices provably in range
                    # (an index loaded from memory could be negative, and a negative index
                    # wraps per element, which would stop vectorisation).
                    row = emb[r]
                    row_v = emb_v[r]
                    for d in range(DIM):
                        squares[d] = zero
                    for q in range(first, end):
                        g = dz[occ[q]]
                        if AVGPOOL:
                            for d in range(DIM):
                                gv = (g * kernel[d]) / steps_f
                                squares[d] += one_minus_rho * (gv * gv)
                        else:
                            w = kernel[occ_base[q] : occ_base[q] + DIM]
                            for d in range(DIM):
                                gv = g * w[d]
                                squares[d] += one_minus_rho * (gv * gv)
                    for d in range(DIM):
                        fresh = rho * (row_v[d] * decay) + squares[d]
                        row_v[d] = fresh
                        den[d] = np.sqrt(fresh + eps)
                    for q in range(first, end):
                        g = dz[occ[q]]
                        if AVGPOOL:
                            for d in range(DIM):
                                row[d] -= (lr * ((g * kernel[d]) / steps_f)) / den[d]
                        else:
                            w = kernel[occ_base[q] : occ_base[q] + DIM]
                            for d in range(DIM):
                                row[d] -= (lr * (g * w[d])) / den[d]
            for j in range(FEATURES):
                g = grad[j]
                v = rho * kernel_v[j] + one_minus_rho * (g * g)
                kernel_v[j] = v
                kernel[j] -= (lr * g) / np.sqrt(v + eps)
            v = rho * bias_v[0] + one_minus_rho * (gb * gb)
            bias_v[0] = v
            bias[0] -= (lr * gb) / np.sqrt(v + eps)
        if train and train_emb:
            catch_up(emb_v, last, step, powers)
        _write_fp_mode(mode)
        return loss_total, correct, step

    return run_epoch


def rho_powers(rho: np.float32, steps: int) -> np.ndarray:
    """rho^0 .. rho^steps in float32, each the previous times rho (as Keras' repeated
    decays would round)."""
    powers = np.empty(steps + 1, np.float32)
    powers[0] = np.float32(1.0)
    for k in range(1, steps + 1):
        powers[k] = powers[k - 1] * rho
    return powers
