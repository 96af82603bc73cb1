# mypy: disallow-untyped-defs=False
# (Triton kernels: their parameters are pointers and constexprs Triton types itself.)
"""Hogwild word2vec kernels in Triton: skip-gram and CBOW with negative sampling.

Each program owns a contiguous slice of the subsampled stream and walks it in order, applying
every SGD step at once to the shared matrices; programs race on shared rows without locks, as
word2vec.c's threads do. Within a program the updates are sequential (word2vec.c's order), so
a one-program launch equals the NumPy reference in `tests/sgns_reference.py` given the same
draws. All randomness (reach per centre, negatives) is drawn by the caller and passed in.
As in the batched torch step, a negative equal to the centre is kept (word2vec.c skips it),
so both steps optimise the same objective and report comparable losses.

Triton reads `TRITON_INTERPRET` when this module is imported (it wraps the kernels then): set
it before, as the tests' conftest does where there is no GPU. Kernel helpers are inlined.
"""

from __future__ import annotations

from typing import Any

import triton
import triton.language as tl


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
def _targets(w_out_ptr, neg_ptr, at, center, slots, is_neg, use, cols, col_ok, DIM: tl.constexpr):
    """The target tile: row 0 the centre, rows 1..K the negatives at neg_ptr + at + 0..K-1.
    Returns (pointers, mask, rows)."""
    neg = tl.load(neg_ptr + at + slots - 1, mask=is_neg, other=0)
    targets = tl.where(slots == 0, center, neg)
    ptrs = w_out_ptr + targets.to(tl.int64)[:, None] * DIM + cols[None, :]
    mask = use[:, None] & col_ok[None, :]
    return ptrs, mask, tl.load(ptrs, mask=mask, other=0.0, cache_modifier=".cg")


@triton.jit
def _sgns_step(rows, x, use, label, slots, lr):
    """One SGNS step of input x against the target rows: (g = lr·(label - σ(f)) per row, the
    loss -log σ(f) for the centre plus -log σ(-f) per negative, i.e. softplus(∓f))."""
    f = tl.sum(rows * x[None, :], axis=1)
    g = tl.where(use, (label - tl.sigmoid(f)) * lr, 0.0)
    z = tl.where(slots == 0, -f, f)
    term = tl.maximum(z, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(z)))
    return g, tl.sum(tl.where(use, term, 0.0), axis=0)


@triton.jit(do_not_specialize=["n", "slice_len", "first", "count"])
def _sg(
    w_in_ptr,  # float32 (V, DIM): input vectors, updated in place
    w_out_ptr,  # float32 (V, DIM): output vectors, updated in place
    stream_ptr,  # int32 (n,): the subsampled stream
    sent_ptr,  # int32 (n,): sentence id per stream position
    reach_ptr,  # int32 (P, count): drawn reach b ~ U[1, WINDOW] per centre of this launch
    neg_ptr,  # int32 (P, count, K) per centre, or (P, count, 2·WINDOW, K) per pair
    loss_ptr,  # float32 (P,): summed pair losses of this launch, per program
    pairs_ptr,  # int32 (P,): pairs trained in this launch, per program
    n,  # stream length
    slice_len,  # positions per program: program p owns [p·slice_len, (p+1)·slice_len)
    first,  # this launch covers local positions [first, first + count) of every slice
    count,
    lr0,  # learning rate at local position j: lr0 - lr_step·j
    lr_step,
    DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    WINDOW: tl.constexpr,
    WP: tl.constexpr,  # next power of two ≥ 2·WINDOW + 1: the window as one vector
    K: tl.constexpr,
    KP: tl.constexpr,  # next power of two ≥ K + 1: row 0 is the centre, rows 1..K negatives
    PER_PAIR: tl.constexpr,  # fresh negatives per pair (word2vec.c) instead of per centre
):
    """Skip-gram in word2vec.c's orientation: each context word's input vector predicts the
    centre's output vector against K negatives. Per centre (PER_PAIR false) the centre's
    output row and its negatives are loaded once, kept in registers while its contexts stream
    past (FULL-W2V's reuse) and their summed change is added back after the window."""
    pid = tl.program_id(0)
    base = pid * slice_len
    cols = tl.arange(0, BLOCK_D)
    col_ok = cols < DIM
    slots = tl.arange(0, KP)
    is_neg = (slots >= 1) & (slots <= K)
    use = slots <= K
    label = (slots == 0).to(tl.float32)
    offsets = tl.arange(0, WP) - WINDOW
    loss = 0.0
    pairs = 0
    for j in range(first, first + count):
        p = base + j
        if (j < slice_len) & (p < n):
            lr = lr0 - lr_step * j
            row = (pid * count + (j - first)).to(tl.int64)
            center = tl.load(stream_ptr + p)
            sentence = tl.load(sent_ptr + p)
            reach = tl.load(reach_ptr + row)
            words, valid = _window(stream_ptr, sent_ptr, p, n, reach, sentence, offsets, WINDOW)
            contexts = tl.where(valid, words, -1)  # -1: the slot holds no context
            if not PER_PAIR:
                # The centre's output row and its K negatives, kept for the whole window.
                t_ptrs, t_mask, u = _targets(
                    w_out_ptr, neg_ptr, row * K, center, slots, is_neg, use, cols, col_ok, DIM
                )
                delta = tl.zeros((KP, BLOCK_D), dtype=tl.float32)
            for o in tl.static_range(2 * WINDOW + 1):
                if o != WINDOW:
                    context = tl.sum(tl.where(offsets == o - WINDOW, contexts, 0), axis=0)
                    if context >= 0:
                        x_ptrs = w_in_ptr + context.to(tl.int64) * DIM + cols
                        x = tl.load(x_ptrs, mask=col_ok, other=0.0, cache_modifier=".cg")
                        if PER_PAIR:
                            slot = o if o < WINDOW else o - 1
                            at = (row * (2 * WINDOW) + slot) * K
                            p_ptrs, p_mask, cur = _targets(
                                w_out_ptr,
                                neg_ptr,
                                at,
                                center,
                                slots,
                                is_neg,
                                use,
                                cols,
                                col_ok,
                                DIM,
                            )
                        else:
                            cur = u + delta
                        g, term = _sgns_step(cur, x, use, label, slots, lr)
                        loss += term
                        pairs += 1
                        neu1e = tl.sum(g[:, None] * cur, axis=0)
                        step = g[:, None] * x[None, :]
                        if PER_PAIR:
                            tl.atomic_add(p_ptrs, step, mask=p_mask, sem="relaxed")
                        else:
                            delta += step
                        tl.store(x_ptrs, x + neu1e, mask=col_ok)
            if not PER_PAIR:
                tl.atomic_add(t_ptrs, delta, mask=t_mask, sem="relaxed")
    tl.store(loss_ptr + pid, loss)
    tl.store(pairs_ptr + pid, pairs)


@triton.jit(do_not_specialize=["n", "slice_len", "first", "count"])
def _cbow(
    w_in_ptr,
    w_out_ptr,
    stream_ptr,
    sent_ptr,
    reach_ptr,
    neg_ptr,  # int32 (P, count, K): negatives per centre
    loss_ptr,
    pairs_ptr,  # examples (centres with at least one context) per program
    n,
    slice_len,
    first,
    count,
    lr0,
    lr_step,
    DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    WINDOW: tl.constexpr,
    WP: tl.constexpr,
    K: tl.constexpr,
    KP: tl.constexpr,
):
    """CBOW as word2vec.c (cbow_mean=1): h = mean of the context inputs predicts the centre
    against K negatives; every context input receives the full ∂L/∂h. The window's rows are
    one (WP, BLOCK_D) tile."""
    pid = tl.program_id(0)
    base = pid * slice_len
    cols = tl.arange(0, BLOCK_D)
    col_ok = cols < DIM
    slots = tl.arange(0, KP)
    is_neg = (slots >= 1) & (slots <= K)
    use = slots <= K
    label = (slots == 0).to(tl.float32)
    offsets = tl.arange(0, WP) - WINDOW
    loss = 0.0
    pairs = 0
    for j in range(first, first + count):
        p = base + j
        if (j < slice_len) & (p < n):
            lr = lr0 - lr_step * j
            row = (pid * count + (j - first)).to(tl.int64)
            center = tl.load(stream_ptr + p)
            sentence = tl.load(sent_ptr + p)
            reach = tl.load(reach_ptr + row)
            words, valid = _window(stream_ptr, sent_ptr, p, n, reach, sentence, offsets, WINDOW)
            contexts = words.to(tl.int64)
            n_ctx = tl.sum(valid.to(tl.int32), axis=0)
            if n_ctx > 0:
                x_ptrs = w_in_ptr + contexts[:, None] * DIM + cols[None, :]
                x_mask = valid[:, None] & col_ok[None, :]
                x = tl.load(x_ptrs, mask=x_mask, other=0.0, cache_modifier=".cg")
                h = tl.sum(x, axis=0) / n_ctx
                t_ptrs, t_mask, u = _targets(
                    w_out_ptr, neg_ptr, row * K, center, slots, is_neg, use, cols, col_ok, DIM
                )
                g, term = _sgns_step(u, h, use, label, slots, lr)
                loss += term
                pairs += 1
                neu1e = tl.sum(g[:, None] * u, axis=0)
                tl.atomic_add(t_ptrs, g[:, None] * h[None, :], mask=t_mask, sem="relaxed")
                grad_x = tl.zeros((WP, BLOCK_D), dtype=tl.float32) + neu1e[None, :]
                tl.atomic_add(x_ptrs, grad_x, mask=x_mask, sem="relaxed")
    tl.store(loss_ptr + pid, loss)
    tl.store(pairs_ptr + pid, pairs)


KERNELS = {"sg": _sg, "cbow": _cbow}


def kernel(model: str) -> Any:
    """The launchable kernel for `model` ("sg" or "cbow")."""
    return KERNELS[model]


def constexprs(
    model: str, dim: int, negative: int, window: int, per_pair: bool = False
) -> dict[str, Any]:
    """The compile-time parameters of one kernel variant."""
    consts: dict[str, Any] = {
        "DIM": dim,
        "BLOCK_D": triton.next_power_of_2(dim),
        "WINDOW": window,
        "WP": triton.next_power_of_2(2 * window + 1),
        "K": negative,
        "KP": triton.next_power_of_2(negative + 1),
    }
    if model == "sg":
        consts["PER_PAIR"] = per_pair
    return consts


def num_warps(model: str, consts: dict[str, Any]) -> int:
    """Warps per program: one warp holds a dim-100 / K-5 target tile (32 floats per thread);
    wider tiles get more warps so a thread never holds more than ~64 floats of one."""
    rows = consts["KP"] if model == "sg" else max(consts["KP"], consts["WP"])
    return max(1, min(8, rows * consts["BLOCK_D"] // (32 * 64)))


_POINTERS = {
    "w_in_ptr": "*fp32",
    "w_out_ptr": "*fp32",
    "stream_ptr": "*i32",
    "sent_ptr": "*i32",
    "reach_ptr": "*i32",
    "neg_ptr": "*i32",
    "loss_ptr": "*fp32",
    "pairs_ptr": "*i32",
}
_SCALARS = {"n": "i32", "slice_len": "i32", "first": "i32", "count": "i32"}
_SCALARS |= {"lr0": "fp32", "lr_step": "fp32"}


def compile_ahead(
    model: str, dim: int, negative: int, window: int, per_pair: bool = False, arch: int = 90
) -> Any:
    """Compile one kernel variant for an NVIDIA GPU of compute capability `arch` (90: H100,
    H200) without a GPU: PTX and a cubin. The interpreter accepts code the compiler may not."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    consts = constexprs(model, dim, negative, window, per_pair)
    signature = {**_POINTERS, **_SCALARS, **dict.fromkeys(consts, "constexpr")}
    fn = KERNELS[model]
    names = list(signature)
    source = ASTSource(fn, signature, constexprs={(names.index(k),): v for k, v in consts.items()})
    options = {"num_warps": num_warps(model, consts)}
    return triton.compile(source, target=GPUTarget("cuda", arch, 32), options=options)
