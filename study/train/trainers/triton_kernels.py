# mypy: disallow-untyped-defs=False
# (Triton kernels: their parameters are pointers and constexprs Triton types itself.)
"""Hogwild word2vec kernels in Triton: skip-gram and CBOW with negative sampling.

Each program owns a contiguous slice of the subsampled stream and walks it in order, applying
every SGD step at once to the shared matrices; programs race on shared rows without locks, as
word2vec.c's threads do, and every row update is an atomic add (none is lost to a race).
Within a program the updates are sequential (word2vec.c's order), so a one-program launch
equals the NumPy reference in `tests/sgns_reference.py`.

The randomness is drawn inside the kernel from the run's key with Philox (`tl.philox`), as a
pure function of (key, stream position, epoch, draw slot): the reach of a centre and its
negatives do not depend on how the epoch is cut into launches or programs, and the reference
reproduces them exactly. Negatives come from an alias table of count**alpha
(`study.data.sampling.AliasSampler.packed`): slot = ⌊r₀·V / 2³²⌋, kept when r₁ < its threshold,
else its alias. As in the batched torch step, a negative equal to the centre is kept
(word2vec.c skips it), so both steps optimise the same objective and report comparable losses.

Rows are stored padded to the tile width (`row_layout`): every access is an unmasked 16-byte
vector. A row is one power-of-two block, or two (dim 300: 256 + 64 columns) where one would
waste more than a quarter of it.

Triton reads `TRITON_INTERPRET` when this module is imported (it wraps the kernels then): set
it before, as the tests' conftest does where there is no GPU. Kernel helpers are inlined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import triton
import triton.language as tl


@triton.jit
def _uniforms(seed, p, epoch, pair_slot, slots):
    """Two uniform 32-bit integers per draw slot: Philox of (slot, position, epoch, pair slot).
    Slot 0 of pair slot 0 gives the centre's reach, slots 1..K its negatives."""
    zero = slots * 0
    r0, r1, _, _ = tl.philox(seed, slots, zero + p, zero + epoch, zero + pair_slot)
    return r0, r1


@triton.jit
def _reach(r0, slots, WINDOW: tl.constexpr):
    """The dynamic window b ~ U{1..WINDOW} from slot 0's first integer: ⌊r·WINDOW/2³²⌋ + 1."""
    r = tl.sum(tl.where(slots == 0, r0, 0), axis=0)
    return 1 + ((r.to(tl.uint64) * WINDOW) >> 32).to(tl.int32)


@triton.jit
def _targets(table_ptr, vocab, r0, r1, center, is_neg):
    """Row 0 the centre, rows 1..K negatives from the alias table (slot ⌊r₀·V/2³²⌋ kept when
    r₁ < its threshold, else its alias; entries alias << 32 | threshold), the other rows the
    centre again (loaded, never updated)."""
    slot = ((r0.to(tl.uint64) * vocab) >> 32).to(tl.int32)
    entry = tl.load(table_ptr + slot, mask=is_neg, other=0)
    keep = r1 < (entry & 0xFFFFFFFF).to(tl.uint32)
    negative = tl.where(keep, slot, (entry >> 32).to(tl.int32))
    return tl.where(is_neg, negative, center)


@triton.jit
def _window(stream_ptr, sent_ptr, p, n, reach, sentence, offsets, WINDOW: tl.constexpr):
    """The centre at p's window in two vector loads over its slots (`offsets`): the word ids,
    and which slots are contexts (within the drawn reach, the stream and the sentence; not
    the centre itself)."""
    q = p + offsets
    near = (offsets != 0) & (offsets <= reach) & (-offsets <= reach) & (q >= 0) & (q < n)
    near = near & (offsets <= WINDOW)
    context_sent = tl.load(sent_ptr + q, mask=near, other=-1)
    words = tl.load(stream_ptr + q, mask=near, other=0)
    return words, near & (context_sent == sentence)


@triton.jit
def _slots(K: tl.constexpr, KP: tl.constexpr):
    """The KP target rows of a step (row 0 the centre, rows 1..K negatives, the rest padding):
    their indices, which are negatives, which are used, and the labels (1 for the centre)."""
    slots = tl.arange(0, KP)
    is_neg = (slots >= 1) & (slots <= K)
    return slots, is_neg, slots <= K, (slots == 0).to(tl.float32)


@triton.jit
def _centre(stream_ptr, sent_ptr, p, n, seed, epoch, slots, offsets, WINDOW: tl.constexpr):
    """The centre at stream position p: its word, slot 0's uniforms (its reach and first
    negatives), the drawn reach, and its window's words and contexts (`_window`)."""
    center = tl.load(stream_ptr + p)
    sentence = tl.load(sent_ptr + p)
    r0, r1 = _uniforms(seed, p, epoch, 0, slots)
    reach = _reach(r0, slots, WINDOW)
    words, valid = _window(stream_ptr, sent_ptr, p, n, reach, sentence, offsets, WINDOW)
    return center, r0, r1, reach, words, valid


@triton.jit
def _coefficients(f, use, label, slots, lr):
    """One SGNS step's coefficients from the scores f of the target rows: g = lr·(label - σ(f))
    per row, and the loss -log σ(f) for the centre plus -log σ(-f) per negative (softplus(∓f))."""
    g = tl.where(use, (label - tl.sigmoid(f)) * lr, 0.0)
    z = tl.where(slots == 0, -f, f)
    term = tl.maximum(z, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(z)))
    return g, tl.sum(tl.where(use, term, 0.0), axis=0)


@triton.jit
def _trace(trace_ptr, p, reach, targets, slots, is_neg, pair_slot, STRIDE: tl.constexpr, K):
    """Tests: what the launch consumed, per position: [reach, K negatives per pair slot]."""
    row = trace_ptr + p.to(tl.int64) * STRIDE
    tl.store(row, reach)
    tl.store(row + pair_slot * K + slots, targets, mask=is_neg)


@triton.jit(do_not_specialize=["n", "slice_len", "first", "count", "vocab", "seed", "epoch"])
def _sg(
    w_in_ptr,  # float32 (V, BLOCK_A + BLOCK_B): input vectors (zero-padded), updated in place
    w_out_ptr,  # float32 (V, BLOCK_A + BLOCK_B): output vectors, updated in place
    stream_ptr,  # int32 (n,): this epoch's subsampled stream
    sent_ptr,  # int32 (n,): sentence id per stream position
    table_ptr,  # int64 (V,): the noise distribution's alias table, alias << 32 | threshold
    loss_ptr,  # float32 (P,): summed pair losses of this launch, per program
    pairs_ptr,  # int32 (P,): pairs trained in this launch, per program
    trace_ptr,  # int32 (n, 1 + K·S): the draws consumed, when TRACE
    n,  # stream length
    slice_len,  # positions per program: program p owns [p·slice_len, (p+1)·slice_len)
    first,  # this launch covers local positions [first, first + count) of every slice
    count,
    vocab,  # rows of the tables (the alias table's length)
    seed,  # the run's Philox key
    epoch,
    lr0,  # learning rate at local position j: lr0 - lr_step·j
    lr_step,
    BLOCK_A: tl.constexpr,  # a row is BLOCK_A (+ BLOCK_B) columns, both powers of two
    BLOCK_B: tl.constexpr,
    WINDOW: tl.constexpr,
    WP: tl.constexpr,  # next power of two ≥ 2·WINDOW + 1: the window as one vector
    K: tl.constexpr,
    KP: tl.constexpr,  # next power of two ≥ K + 1: row 0 is the centre, rows 1..K negatives
    PER_PAIR: tl.constexpr,  # fresh negatives per pair (word2vec.c) instead of per centre
    TRACE: tl.constexpr,
):
    """Skip-gram in word2vec.c's orientation: each context word's input vector predicts the
    centre's output vector against K negatives. Per centre (PER_PAIR false) the centre's
    output row and its negatives are loaded once, kept in registers while its contexts stream
    past (FULL-W2V's reuse) and their summed change is added back after the window."""
    ROW: tl.constexpr = BLOCK_A + BLOCK_B
    STRIDE: tl.constexpr = 1 + K * (2 * WINDOW if PER_PAIR else 1)
    pid = tl.program_id(0)
    base = pid * slice_len
    vocab = vocab.to(tl.uint64)
    slots, is_neg, use, label = _slots(K, KP)
    offsets = tl.arange(0, WP) - WINDOW
    cols_a = tl.arange(0, BLOCK_A)
    if BLOCK_B > 0:
        cols_b = BLOCK_A + tl.arange(0, BLOCK_B)
    loss = 0.0
    pairs = 0
    for j in range(first, first + count):
        p = base + j
        if (j < slice_len) & (p < n):
            lr = lr0 - lr_step * j
            center, r0, r1, reach, words, valid = _centre(
                stream_ptr, sent_ptr, p, n, seed, epoch, slots, offsets, WINDOW
            )
            contexts = tl.where(valid, words, -1)  # -1: the slot holds no context
            if not PER_PAIR:
                # The centre's output row and its K negatives, kept for the whole window.
                targets = _targets(table_ptr, vocab, r0, r1, center, is_neg)
                if TRACE:
                    _trace(trace_ptr, p, reach, targets, slots, is_neg, 0, STRIDE, K)
                t_rows = w_out_ptr + targets.to(tl.int64)[:, None] * ROW
                u_a = tl.load(t_rows + cols_a[None, :], cache_modifier=".cg")
                delta_a = tl.zeros((KP, BLOCK_A), dtype=tl.float32)
                if BLOCK_B > 0:
                    u_b = tl.load(t_rows + cols_b[None, :], cache_modifier=".cg")
                    delta_b = tl.zeros((KP, BLOCK_B), dtype=tl.float32)
            elif TRACE:
                tl.store(trace_ptr + p.to(tl.int64) * STRIDE, reach)
            # A runtime loop over the slots (not unrolled): a fifth of the code, fewer registers.
            for o in range(0, 2 * WINDOW + 1):
                context = tl.sum(tl.where(offsets == o - WINDOW, contexts, 0), axis=0)
                if context >= 0:  # the centre's own slot is never a context
                    x_row = w_in_ptr + context.to(tl.int64) * ROW
                    x_a = tl.load(x_row + cols_a, cache_modifier=".cg")
                    if BLOCK_B > 0:
                        x_b = tl.load(x_row + cols_b, cache_modifier=".cg")
                    if PER_PAIR:
                        s = o - o // (WINDOW + 1)  # pair slot: the slots without the centre's
                        r0, r1 = _uniforms(seed, p, epoch, s, slots)
                        targets = _targets(table_ptr, vocab, r0, r1, center, is_neg)
                        if TRACE:
                            _trace(trace_ptr, p, reach, targets, slots, is_neg, s, STRIDE, K)
                        t_rows = w_out_ptr + targets.to(tl.int64)[:, None] * ROW
                        cur_a = tl.load(t_rows + cols_a[None, :], cache_modifier=".cg")
                        if BLOCK_B > 0:
                            cur_b = tl.load(t_rows + cols_b[None, :], cache_modifier=".cg")
                    else:
                        cur_a = u_a + delta_a
                        if BLOCK_B > 0:
                            cur_b = u_b + delta_b
                    f = tl.sum(cur_a * x_a[None, :], axis=1)
                    if BLOCK_B > 0:
                        f += tl.sum(cur_b * x_b[None, :], axis=1)
                    g, term = _coefficients(f, use, label, slots, lr)
                    loss += term
                    pairs += 1
                    step_a = g[:, None] * x_a[None, :]
                    if BLOCK_B > 0:
                        step_b = g[:, None] * x_b[None, :]
                    if PER_PAIR:
                        t_use = use[:, None]
                        tl.atomic_add(t_rows + cols_a[None, :], step_a, t_use, sem="relaxed")
                        if BLOCK_B > 0:
                            tl.atomic_add(t_rows + cols_b[None, :], step_b, t_use, sem="relaxed")
                    else:
                        delta_a += step_a
                        if BLOCK_B > 0:
                            delta_b += step_b
                    # The input row's change as an atomic add: other programs may be
                    # updating the same frequent word's row at this moment.
                    grad_a = tl.sum(g[:, None] * cur_a, axis=0)
                    tl.atomic_add(x_row + cols_a, grad_a, sem="relaxed")
                    if BLOCK_B > 0:
                        grad_b = tl.sum(g[:, None] * cur_b, axis=0)
                        tl.atomic_add(x_row + cols_b, grad_b, sem="relaxed")
            if not PER_PAIR:
                tl.atomic_add(t_rows + cols_a[None, :], delta_a, use[:, None], sem="relaxed")
                if BLOCK_B > 0:
                    tl.atomic_add(t_rows + cols_b[None, :], delta_b, use[:, None], sem="relaxed")
    tl.store(loss_ptr + pid, loss)
    tl.store(pairs_ptr + pid, pairs)


@triton.jit(do_not_specialize=["n", "slice_len", "first", "count", "vocab", "seed", "epoch"])
def _cbow(
    w_in_ptr,
    w_out_ptr,
    stream_ptr,
    sent_ptr,
    table_ptr,
    loss_ptr,
    pairs_ptr,  # examples (centres with at least one context) per program
    trace_ptr,  # int32 (n, 1 + K)
    n,
    slice_len,
    first,
    count,
    vocab,
    seed,
    epoch,
    lr0,
    lr_step,
    BLOCK_A: tl.constexpr,
    BLOCK_B: tl.constexpr,
    WINDOW: tl.constexpr,
    WP: tl.constexpr,
    K: tl.constexpr,
    KP: tl.constexpr,
    TRACE: tl.constexpr,
):
    """CBOW as word2vec.c (cbow_mean=1): h = mean of the context inputs predicts the centre
    against K negatives; every context input receives the full ∂L/∂h. The window's rows are
    one (WP, ROW) tile."""
    ROW: tl.constexpr = BLOCK_A + BLOCK_B
    pid = tl.program_id(0)
    base = pid * slice_len
    vocab = vocab.to(tl.uint64)
    slots, is_neg, use, label = _slots(K, KP)
    offsets = tl.arange(0, WP) - WINDOW
    cols_a = tl.arange(0, BLOCK_A)
    if BLOCK_B > 0:
        cols_b = BLOCK_A + tl.arange(0, BLOCK_B)
    loss = 0.0
    pairs = 0
    for j in range(first, first + count):
        p = base + j
        if (j < slice_len) & (p < n):
            lr = lr0 - lr_step * j
            center, r0, r1, reach, words, valid = _centre(
                stream_ptr, sent_ptr, p, n, seed, epoch, slots, offsets, WINDOW
            )
            n_ctx = tl.sum(valid.to(tl.int32), axis=0)
            targets = _targets(table_ptr, vocab, r0, r1, center, is_neg)
            if TRACE:
                _trace(trace_ptr, p, reach, targets, slots, is_neg, 0, 1 + K, K)
            if n_ctx > 0:
                x_rows = w_in_ptr + words.to(tl.int64)[:, None] * ROW
                x_use = valid[:, None]
                x_a = tl.load(x_rows + cols_a[None, :], x_use, other=0.0, cache_modifier=".cg")
                h_a = tl.sum(x_a, axis=0) / n_ctx
                t_rows = w_out_ptr + targets.to(tl.int64)[:, None] * ROW
                u_a = tl.load(t_rows + cols_a[None, :], cache_modifier=".cg")
                f = tl.sum(u_a * h_a[None, :], axis=1)
                if BLOCK_B > 0:
                    x_b = tl.load(x_rows + cols_b[None, :], x_use, other=0.0, cache_modifier=".cg")
                    h_b = tl.sum(x_b, axis=0) / n_ctx
                    u_b = tl.load(t_rows + cols_b[None, :], cache_modifier=".cg")
                    f += tl.sum(u_b * h_b[None, :], axis=1)
                g, term = _coefficients(f, use, label, slots, lr)
                loss += term
                pairs += 1
                t_use = use[:, None]
                tl.atomic_add(t_rows + cols_a[None, :], g[:, None] * h_a[None, :], t_use,
                              sem="relaxed")  # fmt: skip
                grad_a = tl.zeros((WP, BLOCK_A), dtype=tl.float32)
                grad_a += tl.sum(g[:, None] * u_a, axis=0)[None, :]
                tl.atomic_add(x_rows + cols_a[None, :], grad_a, x_use, sem="relaxed")
                if BLOCK_B > 0:
                    tl.atomic_add(t_rows + cols_b[None, :], g[:, None] * h_b[None, :], t_use,
                                  sem="relaxed")  # fmt: skip
                    grad_b = tl.zeros((WP, BLOCK_B), dtype=tl.float32)
                    grad_b += tl.sum(g[:, None] * u_b, axis=0)[None, :]
                    tl.atomic_add(x_rows + cols_b[None, :], grad_b, x_use, sem="relaxed")
    tl.store(loss_ptr + pid, loss)
    tl.store(pairs_ptr + pid, pairs)


KERNELS = {"sg": _sg, "cbow": _cbow}
# A row split in two blocks when one power of two would leave more than this share unused.
MAX_BLOCK_WASTE = 0.25
VECTOR = 4  # floats per 16-byte access


def kernel(model: str) -> Any:
    """The launchable kernel for `model` ("sg" or "cbow")."""
    return KERNELS[model]


def row_layout(dim: int) -> tuple[int, int]:
    """(BLOCK_A, BLOCK_B): the row's one or two power-of-two blocks, BLOCK_B = 0 for one.
    Rows are stored padded to BLOCK_A + BLOCK_B columns (zeros that stay zero), so every access
    is unmasked; two blocks where one of more than 64 would waste more than MAX_BLOCK_WASTE
    (dim 300: 256 + 64 = 320 columns instead of 512)."""
    one = max(VECTOR, triton.next_power_of_2(dim))
    if one - dim <= MAX_BLOCK_WASTE * one or one <= 64:
        return one, 0
    first = one // 2
    return first, max(VECTOR, triton.next_power_of_2(dim - first))


REGISTERS_PER_SM = 65536  # sm_80 .. sm_100: 64k 32-bit registers, 64 warps, 32 blocks
MAX_REGISTERS = 255


@dataclass(frozen=True)
class LaunchShape:
    """How a kernel variant is launched: warps per program and a register cap per thread
    (`maxnreg`), which fix how many programs an SM holds without asking the compiler."""

    warps: int
    registers: int

    @property
    def programs_per_sm(self) -> int:
        per_thread = -(-self.registers // 8) * 8  # registers are allocated 8 at a time
        by_registers = REGISTERS_PER_SM // (per_thread * 32 * self.warps)
        return max(1, min(32, 64 // self.warps, by_registers))


# (model, per_pair, row floats, KP) -> launch shape, for the shapes the benchmarks, the grid and
# the levy2015 preset run. From sm_90 compiles (Triton 3.9;
# `python -m study.train.trainers.triton_aot sg:100:5:5 ...` prints each line): the fewest
# warps per program that keep 8 warps resident per SM without spilling, under a cap of the most
# registers any window 2, 5 or 10 compiled to, rounded up to 8 (`triton_aot.best_shape`).
# Unmeasured on a GPU: `gpu_check.sh tune` times the alternatives. The CPU tests compile the
# benchmarked entries under their caps and fail on spills (the grid's and dim 500's in the slow
# test).
TUNED_SHAPES: dict[tuple[str, bool, int, int], LaunchShape] = {
    ("sg", False, 128, 8): LaunchShape(1, 184),  # dim 100, K 5: 11 programs/SM
    ("sg", False, 128, 16): LaunchShape(2, 240),  # dim 100, K 10 or 15: 4/SM (K 15 spills at 1)
    ("sg", True, 128, 8): LaunchShape(1, 128),  # 16/SM
    ("cbow", False, 128, 8): LaunchShape(1, 168),  # 12/SM
    ("sg", False, 320, 16): LaunchShape(4, 255),  # dim 300, K 10: 2/SM
    ("sg", True, 320, 16): LaunchShape(2, 248),  # 4/SM
    ("cbow", False, 320, 16): LaunchShape(2, 255),  # 4/SM
    ("sg", False, 512, 2): LaunchShape(1, 184),  # dim 500, K 1: 11/SM
    ("sg", False, 512, 8): LaunchShape(2, 255),  # dim 500, K 5: 4/SM
    ("sg", False, 512, 16): LaunchShape(8, 240),  # dim 500, K 15: 1/SM
}


@dataclass(frozen=True)
class Variant:
    """One compiled kernel: the model and its compile-time shape."""

    model: str
    dim: int
    negative: int
    window: int
    per_pair: bool = False
    trace: bool = False

    @property
    def row(self) -> int:
        return sum(row_layout(self.dim))

    def constexprs(self) -> dict[str, Any]:
        block_a, block_b = row_layout(self.dim)
        consts: dict[str, Any] = {
            "BLOCK_A": block_a,
            "BLOCK_B": block_b,
            "WINDOW": self.window,
            "WP": triton.next_power_of_2(2 * self.window + 1),
            "K": self.negative,
            "KP": triton.next_power_of_2(self.negative + 1),
        }
        if self.model == "sg":
            consts["PER_PAIR"] = self.per_pair
        consts["TRACE"] = self.trace
        return consts

    def trace_width(self) -> int:
        """Ints per stream position in a draw trace: the reach, K negatives per pair slot."""
        return 1 + self.negative * (2 * self.window if self.per_pair else 1)

    def launch_shape(self) -> LaunchShape:
        """Warps and the register cap it is launched with: a tuned shape where there is one,
        else enough warps that a thread holds ≤ 32 floats of a tile, under the hardware cap."""
        consts = self.constexprs()
        tuned = TUNED_SHAPES.get((self.model, self.per_pair, self.row, consts["KP"]))
        if tuned is not None:
            return tuned
        rows = consts["KP"] if self.model == "sg" else max(consts["KP"], consts["WP"])
        warps = min(8, triton.next_power_of_2(max(1, rows * self.row // (32 * 32))))
        return LaunchShape(warps, MAX_REGISTERS)

    def label(self) -> str:
        draw = "-pair" if self.per_pair else ""
        return f"{self.model}{draw}-dim{self.dim}-k{self.negative}-w{self.window}"


_POINTERS = {
    "w_in_ptr": "*fp32",
    "w_out_ptr": "*fp32",
    "stream_ptr": "*i32",
    "sent_ptr": "*i32",
    "table_ptr": "*i64",
    "loss_ptr": "*fp32",
    "pairs_ptr": "*i32",
    "trace_ptr": "*i32",
}
_SCALARS = {"n": "i32", "slice_len": "i32", "first": "i32", "count": "i32", "vocab": "i32"}
_SCALARS |= {"seed": "i64", "epoch": "i32", "lr0": "fp32", "lr_step": "fp32"}


def compile_ahead(variant: Variant, arch: int = 90, shape: LaunchShape | None = None) -> Any:
    """Compile one kernel variant for an NVIDIA GPU of compute capability `arch` (90: H100,
    H200) without a GPU: PTX and a cubin, at its launch shape (or `shape`). Pointers are taken
    16-byte aligned, as the launcher specialises torch's allocations. The interpreter accepts
    code the compiler may not."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    consts = variant.constexprs()
    signature = {**_POINTERS, **_SCALARS, **dict.fromkeys(consts, "constexpr")}
    fn = KERNELS[variant.model]
    names = list(signature)
    aligned = {(names.index(k),): [["tt.divisibility", 16]] for k in _POINTERS}
    source = ASTSource(
        fn, signature, constexprs={(names.index(k),): v for k, v in consts.items()}, attrs=aligned
    )
    shape = shape or variant.launch_shape()
    options = {"num_warps": shape.warps, "maxnreg": shape.registers}
    return triton.compile(source, target=GPUTarget("cuda", arch, 32), options=options)
