"""The batched torch step of the PyTorch trainer (`kernel=torch`): `batch_size` consecutive
centres of the subsampled stream per update, their windows gathered once by position, closed-form
gradients from `study.train.sgns_math` (no autograd), summed per row with a per-row rate cap for
very frequent words. Design and measurements: docs/DESIGN.md, "The PyTorch trainer".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from study.core.config import RunConfig
from study.train.sgns_math import (
    SGNSTerms,
    grad_center,
    grad_context,
    grad_negatives,
    sgns_terms,
    softmax_grad_center,
    softmax_grad_output,
    softmax_terms,
    window_grad_targets,
    window_terms,
)

SOFTMAX_CHUNK_ELEMENTS = 1 << 23  # rows × vocab of one logits chunk (32 MB in float32)
MAX_ROW_STEP = 1.0  # cap on a row's total rate lr × n_r in one step (`row_rates`)


@dataclass
class Window:
    """A step's centers and their windows in position space (B centers, W = window).

    `rows` are the ids at stream positions start - W .. stop + W - 1 (clamped at the ends),
    so center b's window is rows[b : b + 2W + 1] and its center is rows[b + W]; `mask` (B, 2W+1)
    marks the real contexts (drawn reach, same sentence, inside the stream, not the center).
    Gathering rows once per position instead of once per pair is what makes the step cheap."""

    centers: torch.Tensor  # (B,) int64
    rows: torch.Tensor  # (B + 2W,) int64
    mask: torch.Tensor  # (B, 2W + 1) float32 0/1
    window: int


def step_memory_bytes(config: RunConfig, vocab_size: int) -> int:
    """Rough size of one step's float32 tensors: gathered rows, gradients, window masks
    (softmax: logits chunks and the dense W_out gradient)."""
    batch, dim, slots = config.batch_size, config.dim, 2 * config.window + 1
    if config.objective == "softmax":
        return 4 * (6 * batch * dim + 3 * SOFTMAX_CHUNK_ELEMENTS + vocab_size * dim)
    return 4 * batch * (3 * (config.negative + 2) * dim + 4 * slots)


def make_window(
    stream: torch.Tensor,
    sent: torch.Tensor,
    start: int,
    stop: int,
    window: int,
    gen: torch.Generator,
    reach: torch.Tensor | None = None,
) -> Window:
    """The centers stream[start:stop] with their dynamic windows, as position-space tensors;
    `reach` (stop - start, 1): each center's drawn window, else drawn here from `gen`."""
    device = stream.device
    n = stream.shape[0]
    span = torch.arange(start - window, stop + window, device=device)
    inside = (span >= 0) & (span < n)
    span.clamp_(0, n - 1)
    rows = stream[span]
    # Sentence id per padded position, -1 outside the stream: such slots never match a center.
    sent_pad = torch.where(inside, sent[span], -1)
    size = 2 * window + 1
    centers = rows[window : window + stop - start]
    center_sent = sent_pad[window : window + stop - start]
    if reach is None:
        reach = torch.randint(1, window + 1, (stop - start, 1), generator=gen, device=device)
    offsets = torch.arange(-window, window + 1, device=device).abs()
    mask = (sent_pad.unfold(0, size, 1) == center_sent[:, None]) & (offsets <= reach)
    mask[:, window] = False  # a center is not its own context
    return Window(centers=centers, rows=rows, mask=mask.to(torch.float32), window=window)


def window_view(padded: torch.Tensor, window: int) -> torch.Tensor:
    """(B + 2W, d) rows by position → (B, 2W + 1, d) strided view of each center's window."""
    return padded.unfold(0, 2 * window + 1, 1).transpose(1, 2)


def window_diagonals(coef: torch.Tensor) -> torch.Tensor:
    """(B, S, J) per-center coefficients → (B + S - 1, S, J) per-position view: row p holds
    coef[p - o, o] for o = S - 1 … 0 (the centers b = p - S + 1 … p whose window holds p),
    zero where b falls outside the step."""
    batch, size, j = coef.shape
    padded = F.pad(coef, (0, 0, 0, 0, size - 1, size - 1))
    return padded.as_strided(
        (batch + size - 1, size, j), (size * j, size * j - j, 1), (size - 1) * j
    )


def window_adjoint(coef: torch.Tensor, padded_values: torch.Tensor) -> torch.Tensor:
    """out[p] = Σ_o Σ_j coef[b, o, j] · values[b, j] with b = p - o, for the B + S - 1 positions
    of a step: the adjoint of `window_view`, as one batched product over strided windows of the
    values (position p reads the S·J consecutive value rows of its S centers) instead of a
    (B, S, d) tensor and 2W shifted adds. coef: (B, S, J); padded_values: ((B + 2S - 2)·J, d),
    contiguous, the B·J value rows with (S - 1)·J rows of padding on each side (any finite
    values: their coefficients are 0)."""
    batch, size, j = coef.shape
    positions, dim = batch + size - 1, padded_values.shape[1]
    diagonals = window_diagonals(coef).reshape(positions, 1, size * j)
    windows = padded_values.as_strided(
        (positions, size * j, dim), (j * dim, dim, 1), padded_values.storage_offset()
    )
    return torch.bmm(diagonals, windows).view(positions, dim)


def add_rows(w: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> None:
    """w[rows[i]] += values[i], repeated rows summed. scatter_add_ over an expanded index runs
    on the CPU as a sorted segment sum, ~3× faster than index_add_ (docs/DESIGN.md), and its
    order per row does not depend on the thread count."""
    w.scatter_add_(0, rows[:, None].expand(-1, w.shape[1]), values)


def row_rates(
    vocab_size: int, lr: float, cap: float, parts: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> list[torch.Tensor]:
    """Per-row learning rates min(lr, max(cap, lr) / n_r) of one matrix for one step.

    `parts` are (rows, steps) pairs: the rows a step updates and how many pair-level SGD steps
    each entry stands for (a shared negative of a center with n pairs stands for n); n_r sums
    them per row. Rows with lr·n_r ≤ cap get the plain summed update (what gensim's sequential
    steps add up to); rows so frequent in the step that the summed stale step would overshoot
    get their total rate capped (docs/DESIGN.md, "The PyTorch trainer"). The cap never cuts a
    row below one step at lr, so it removes the batching's amplification, not the learning rate
    the user chose.
    Returns one rate tensor per part, aligned with its rows."""
    counts = torch.zeros(vocab_size, dtype=parts[0][1].dtype, device=parts[0][1].device)
    for rows, steps in parts:
        counts.index_add_(0, rows, steps)
    limit = max(cap, lr)
    # limit / 0 = inf for rows without steps (their gradient is 0): clamps to lr.
    return [(limit / counts[rows]).clamp_(max=lr) for rows, _ in parts]


def train_step(
    win: Window,
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    config: RunConfig,
    lr: float,
    negatives: torch.Tensor | None,
    cap: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One batched update in place; returns (summed loss as float64, pairs) scalar tensors.

    `negatives`: (B, K) ids, one set per center (None for the softmax objective). Per-row rates
    are folded into the small (B, ·) coefficient matrices, so no extra pass over the gradients.
    """
    cap = MAX_ROW_STEP if cap is None else cap
    size = 2 * win.window + 1
    pairs = win.mask.sum(-1)  # (B,) contexts per center
    # Pairs (sg) or examples (CBOW) that use each padded position as a context.
    position_steps = window_diagonals(win.mask[:, :, None]).sum((1, 2)).to(w_in.dtype)
    if config.model == "sg":
        if negatives is None:  # full softmax: center → contexts, one softmax per center
            (rate_in,) = row_rates(w_in.shape[0], lr, cap, [(win.centers, pairs)])
            v = w_in.index_select(0, win.centers)
            contexts = win.rows.unfold(0, size, 1)
            g_v, g_out, loss, steps = softmax_gradients(v, w_out, contexts, win.mask)
            apply_dense_output(w_out, g_out, steps, lr, cap)
            add_rows(w_in, win.centers, g_v * -rate_in[:, None])
            return loss.sum(dtype=torch.float64), pairs.sum()
        return _skipgram_ns_update(win, w_in, w_out, lr, cap, negatives, position_steps, pairs)

    # CBOW: h = mean of the context vectors predicts the center.
    (rate_rows,) = row_rates(w_in.shape[0], lr, cap, [(win.rows, position_steps)])
    padded_in = w_in.index_select(0, win.rows)
    active = (pairs > 0).to(w_in.dtype)  # centers whose window holds at least one word
    h = torch.einsum("bo,bod->bd", win.mask, window_view(padded_in, win.window))
    h = h / pairs.clamp(min=1.0)[:, None]
    if negatives is None:
        g_h, g_out, loss, steps = softmax_gradients(h, w_out, win.centers, active)
        apply_dense_output(w_out, g_out, steps, lr, cap)
    else:
        g_h, loss = _cbow_output_update(win.centers, h, active, w_out, lr, cap, negatives)
    # word2vec.c / gensim (cbow_mean=1): every context word receives the full ∂L/∂h.
    step_in = win.mask * -rate_rows.unfold(0, size, 1)
    add_rows(
        w_in, win.rows, window_adjoint(step_in[:, :, None], F.pad(g_h, (0, 0, size - 1, size - 1)))
    )
    return loss.sum(dtype=torch.float64), active.sum()


def _skipgram_ns_update(
    win: Window,
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    lr: float,
    cap: float,
    negatives: torch.Tensor,
    position_steps: torch.Tensor,
    pairs: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Skip-gram with negative sampling, word2vec.c's orientation: each context word's input
    vector predicts the center's output vector against the center's K shared negatives."""
    batch, k = negatives.shape
    size = 2 * win.window + 1
    out_rows = torch.cat([win.centers[:, None], negatives], dim=1).reshape(-1)
    (rate_in,) = row_rates(w_in.shape[0], lr, cap, [(win.rows, position_steps)])
    (rate_out,) = row_rates(w_out.shape[0], lr, cap, [(out_rows, pairs.repeat_interleave(1 + k))])
    padded_in = w_in.index_select(0, win.rows)
    x = window_view(padded_in, win.window)
    # The target rows are gathered with (size - 1)·(1 + K) rows of padding (row 0) on each side,
    # the layout `window_adjoint` reads the input gradient from.
    pad = (size - 1) * (1 + k)
    padded_targets = w_out.index_select(0, F.pad(out_rows, (pad, pad)))
    targets = padded_targets[pad : pad + batch * (1 + k)].view(batch, 1 + k, -1)
    terms = window_terms(x, win.mask, targets)
    coef = terms.coef
    # Rates and the descent sign folded into the (B, O, 1 + K) coefficients: by input
    # position, then by output row.
    step_in = coef * -rate_in.unfold(0, size, 1)[:, :, None]
    add_rows(w_in, win.rows, window_adjoint(step_in, padded_targets))
    terms.coef = coef * -rate_out.view(batch, 1, 1 + k)
    step_out = window_grad_targets(terms, x)
    add_rows(w_out, out_rows, step_out.reshape(batch * (1 + k), -1))
    return terms.loss.sum(dtype=torch.float64), terms.pairs.sum()


def _cbow_output_update(
    centers: torch.Tensor,
    h: torch.Tensor,
    active: torch.Tensor,
    w_out: torch.Tensor,
    lr: float,
    cap: float,
    negatives: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CBOW with negatives per center (as gensim): updates w_out; returns (∂L/∂h, loss)."""
    k = negatives.shape[1]
    neg_rows = negatives.reshape(-1)
    rate_pos, rate_neg = row_rates(
        w_out.shape[0], lr, cap, [(centers, active), (neg_rows, active.repeat_interleave(k))]
    )
    u_pos = w_out.index_select(0, centers)
    u_neg = w_out.index_select(0, neg_rows).view(*negatives.shape, -1)
    raw = sgns_terms(h, u_pos, u_neg)
    terms = SGNSTerms(raw.loss * active, raw.coef_pos * active, raw.coef_neg * active[:, None])
    g_h = grad_center(terms, u_pos, u_neg)
    terms.coef_pos = terms.coef_pos * -rate_pos
    terms.coef_neg = terms.coef_neg * -rate_neg.view(-1, k)
    add_rows(w_out, centers, grad_context(terms, h))
    add_rows(w_out, neg_rows, grad_negatives(terms, h).view(-1, h.shape[1]))
    return g_h, terms.loss


def softmax_gradients(
    h: torch.Tensor, w_out: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Full softmax, in row chunks that bound the logits' memory. Returns ∂L/∂h, the dense
    ∂L/∂W_out, the loss per input and each output row's pair steps for the rate cap:
    n_r = (pairs with target r) + Σ_pairs p_r, i.e. Σ_b coef_br + 2 · (target count of r)."""
    chunk = max(1, SOFTMAX_CHUNK_ELEMENTS // w_out.shape[0])
    g_h = torch.empty_like(h)
    g_out = torch.zeros_like(w_out)
    target_counts = torch.zeros_like(w_out[:, 0]).index_add_(
        0, targets.reshape(-1), weights.reshape(-1).to(w_out.dtype)
    )
    steps = 2.0 * target_counts
    losses = []
    for a in range(0, h.shape[0], chunk):
        part = slice(a, a + chunk)
        terms = softmax_terms(h[part], w_out, targets[part], weights[part])
        g_h[part] = softmax_grad_center(terms, w_out)
        g_out += softmax_grad_output(terms, h[part])
        steps += terms.coef.sum(0)
        losses.append(terms.loss)
    return g_h, g_out, torch.cat(losses), steps


def apply_dense_output(
    w_out: torch.Tensor, g_out: torch.Tensor, steps: torch.Tensor, lr: float, cap: float
) -> None:
    """The softmax's dense W_out update with the same per-row rate cap as `row_rates`."""
    rate = (max(cap, lr) / steps).clamp_(max=lr)
    w_out.sub_(g_out.mul_(rate[:, None]))
