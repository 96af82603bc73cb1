"""The PyTorch word2vec trainer: skip-gram and CBOW, negative sampling or exact full softmax.

word2vec semantics (per-epoch subsampling before windowing, dynamic window within a sentence,
negatives from count**alpha, linear lr decay, W_in ~ U(±0.5/dim), W_out = 0) with two steps:
the batched torch step below (`kernel=torch`: `batch_size` centres per step, closed-form
gradients from `study.sgns_math`, per-row rate cap for frequent words) and the Triton Hogwild
kernel (`kernel=triton`, `study.trainers.triton_sgns`). Loss: exact mean per (center, context)
pair, float64. All randomness comes from one `torch.Generator`. Design and measurements:
docs/DESIGN.md, "The PyTorch trainer".
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from study.config import RunConfig
from study.errors import ConfigError, CorpusError, DivergenceError
from study.sampling import AliasSampler
from study.sgns_math import (
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
from study.trainers import triton_sgns
from study.trainers.base import (
    Callback,
    TrainResult,
    TrainState,
    check_finite,
    emit,
    keyed_vectors,
    lr_at,
    no_pairs_error,
    resolve_device,
)
from study.vocab import EncodedCorpus, keep_probabilities

# Full softmax scores every word for every center: 10k words ≈ 40 MB of logits per 1k centers
# and ~3·10^6 multiply-adds per center at dim 100 (≈ 12k words/s on one CPU core at 9k words);
# beyond that negative sampling is the tool.
MAX_SOFTMAX_VOCAB = 10_000
SOFTMAX_CHUNK_ELEMENTS = 1 << 23  # rows × vocab of one logits chunk (32 MB in float32)
MAX_ROW_STEP = 1.0  # cap on a row's total rate lr × n_r in one step (module docstring)
MAX_STEP_BYTES = 4 << 30  # refuse batch sizes whose per-step tensors would exceed ~4 GiB
CHECK_EVERY = 64  # steps between divergence checks of the running loss


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


class TorchTrainer:
    """SGNS / CBOW / full-softmax word2vec in PyTorch, with the batched torch step or the
    Triton Hogwild kernel (`config.kernel`).

    progress: tqdm bar per epoch; None shows it only when stderr is a terminal.
    cpu_threads: torch intra-op threads while training on the CPU (restored afterwards);
    None takes `config.workers` (0 = all cores), as gensim does with its worker threads.
    """

    name = "torch"

    def __init__(self, progress: bool | None = None, cpu_threads: int | None = None):
        self.progress = progress
        self.cpu_threads = cpu_threads

    def fit(
        self, corpus: EncodedCorpus, config: RunConfig, callbacks: Sequence[Callback] = ()
    ) -> TrainResult:
        device = resolve_device(config.device)
        if device.type != "cpu":
            return self._fit(corpus, config, callbacks, device)
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads(config))
        try:
            return self._fit(corpus, config, callbacks, device)
        finally:
            torch.set_num_threads(previous)

    def threads(self, config: RunConfig) -> int:
        """CPU threads for this run: the trainer's setting, else config.workers (0 = all)."""
        if self.cpu_threads is not None:
            return self.cpu_threads
        return config.workers or os.cpu_count() or 1

    def _fit(
        self,
        corpus: EncodedCorpus,
        config: RunConfig,
        callbacks: Sequence[Callback],
        device: torch.device,
    ) -> TrainResult:
        check_config(corpus, config)
        kernel = resolve_kernel(config, device)
        gen = torch.Generator(device=device)
        gen.manual_seed(config.seed)
        vocab_size, dim = len(corpus.vocab), config.dim

        ids = torch.as_tensor(corpus.ids.astype(np.int64), device=device)
        lengths = np.diff(corpus.sentence_starts)
        sentence = torch.as_tensor(np.repeat(np.arange(len(lengths)), lengths), device=device)
        keep_p = torch.as_tensor(
            keep_probabilities(corpus.vocab.counts, config.sample), dtype=torch.float32
        ).to(device)
        sampler = AliasSampler(corpus.vocab.counts, config.alpha, device)

        w_in = (torch.rand(vocab_size, dim, generator=gen, device=device) - 0.5) / dim
        w_out = torch.zeros(vocab_size, dim, device=device)
        state = TrainState(
            config=config, corpus=corpus, epochs=config.epochs, w_in=w_in, w_out=w_out
        )
        state.lr = config.lr_start
        n_words = corpus.n_words
        info: dict[str, Any] = {"kernel": kernel}
        if device.type == "cpu":
            info["cpu_threads"] = torch.get_num_threads()
        if kernel == "triton":
            ids, sentence = ids.to(torch.int32), sentence.to(torch.int32)
            programs = config.programs or triton_sgns.default_programs(
                config, w_in, w_out, ids, sentence
            )
            info["programs"] = programs
        started = time.perf_counter()
        train_seconds = 0.0
        rows: list[dict[str, float]] = []
        emit(callbacks, "on_train_begin", state)
        for epoch in range(config.epochs):
            emit(callbacks, "on_epoch_begin", state)
            t0 = time.perf_counter()
            stream, sent = subsample(ids, sentence, keep_p, config.sample, gen)
            with self._bar(epoch, config, n_words) as bar:
                if kernel == "triton":
                    loss_sum, pairs, lr = self._triton_epoch(
                        epoch, stream, sent, sampler, w_in, w_out, config, gen, programs, bar
                    )
                else:
                    loss_sum, pairs, lr = self._epoch(
                        epoch, stream, sent, sampler, w_in, w_out, config, gen, n_words, bar
                    )
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if pairs == 0:
                raise no_pairs_error(config, epoch + 1)
            loss = loss_sum / pairs
            check_finite(loss, w_in, w_out, where=f"epoch {epoch + 1}")
            state.seconds = time.perf_counter() - t0
            train_seconds += state.seconds
            state.epoch, state.words, state.pairs = epoch + 1, n_words, pairs
            state.lr, state.loss = lr, loss
            state.total_seconds = time.perf_counter() - started
            state.row = state.standard_row()
            emit(callbacks, "on_epoch_end", state)
            rows.append(dict(state.row))
        emit(callbacks, "on_train_end", state)
        return TrainResult(
            vectors=keyed_vectors(corpus.vocab.words, w_in.cpu().numpy()),
            output_vectors=w_out.cpu().numpy().copy(),
            epochs=rows,
            seconds=time.perf_counter() - started,
            train_seconds=train_seconds,
            words=n_words * config.epochs,
            info=info,
        )

    def _bar(self, epoch: int, config: RunConfig, n_words: int) -> tqdm:
        disable = None if self.progress is None else not self.progress
        return tqdm(
            total=n_words,
            unit="w",
            unit_scale=True,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=disable,
            leave=False,
        )

    def _triton_epoch(
        self,
        epoch: int,
        stream: torch.Tensor,
        sent: torch.Tensor,
        sampler: AliasSampler,
        w_in: torch.Tensor,
        w_out: torch.Tensor,
        config: RunConfig,
        gen: torch.Generator,
        programs: int,
        bar: tqdm,
    ) -> tuple[float, int, float]:
        """One Hogwild pass with the Triton kernel; returns (summed loss, pairs, last lr)."""
        lr_first = lr_at(config, epoch / config.epochs)
        lr_last = lr_at(config, (epoch + 1) / config.epochs)
        total = int(bar.total or 0)

        def progress(fraction: float) -> None:
            bar.update(int(total * fraction) - bar.n)

        loss_sum, pairs = triton_sgns.run_epoch(
            stream, sent, w_in, w_out, sampler, config, gen, lr_first, lr_last, programs, progress
        )
        return loss_sum, pairs, lr_last

    @torch.no_grad()
    def _epoch(
        self,
        epoch: int,
        stream: torch.Tensor,
        sent: torch.Tensor,
        sampler: AliasSampler,
        w_in: torch.Tensor,
        w_out: torch.Tensor,
        config: RunConfig,
        gen: torch.Generator,
        n_words: int,
        bar: tqdm,
    ) -> tuple[float, int, float]:
        """One pass with the batched torch step; returns (summed loss, pairs, last lr)."""
        n_kept = int(stream.shape[0])
        loss_sum = torch.zeros((), dtype=torch.float64, device=stream.device)
        pairs = torch.zeros((), dtype=torch.float64, device=stream.device)
        lr = lr_at(config, epoch / config.epochs)
        shown = 0
        for step, start in enumerate(range(0, n_kept, config.batch_size)):
            stop = min(start + config.batch_size, n_kept)
            lr = lr_at(config, (epoch + start / n_kept) / config.epochs)
            win = make_window(stream, sent, start, stop, config.window, gen)
            negatives = None
            if config.objective == "ns":
                negatives = sampler.sample((stop - start, config.negative), gen)
            loss, n_pairs = train_step(win, w_in, w_out, config, lr, negatives)
            loss_sum += loss
            pairs += n_pairs
            # A cheap early stop (one scalar read) instead of running a diverged epoch out.
            if step % CHECK_EVERY == CHECK_EVERY - 1 and not math.isfinite(loss_sum.item()):
                raise DivergenceError(
                    f"training diverged in epoch {epoch + 1} (loss={loss_sum.item()}): "
                    f"lower lr_start (now {config.lr_start})"
                )
            done = n_words * stop // n_kept
            bar.update(done - shown)
            shown = done
        return float(loss_sum.item()), int(pairs.item()), lr


def subsample(
    ids: torch.Tensor,
    sentence: torch.Tensor,
    keep_p: torch.Tensor,
    sample: float,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """This epoch's stream: each occurrence kept with its word's keep probability, drawn anew
    every epoch and before windowing (so windows reach past dropped words)."""
    if sample <= 0:
        return ids, sentence
    keep = torch.rand(ids.shape, generator=gen, device=ids.device) < keep_p[ids]
    return ids[keep], sentence[keep]


def resolve_kernel(config: RunConfig, device: torch.device) -> str:
    """The step this run uses: `kernel=auto` takes the Triton kernel on CUDA when triton
    imports and the run is one it trains (negative sampling), else the batched torch step."""
    kernel = config.kernel
    if kernel == "auto":
        fits = config.objective == "ns" and not (
            config.model == "cbow" and config.neg_draw == "pair"
        )
        use_triton = device.type == "cuda" and fits and triton_sgns.triton_available()
        kernel = "triton" if use_triton else "torch"
    if kernel == "triton":
        triton_sgns.check_triton(config, device)
    elif config.neg_draw == "pair":
        raise ConfigError(
            "neg_draw=pair needs the Triton kernel (kernel=triton on CUDA): the batched torch "
            "step shares K negatives per center"
        )
    return kernel


def check_config(corpus: EncodedCorpus, config: RunConfig) -> None:
    """Clear errors for settings this trainer cannot run."""
    vocab_size = len(corpus.vocab)
    if config.objective == "softmax" and vocab_size > MAX_SOFTMAX_VOCAB:
        raise ConfigError(
            f"objective=softmax scores the whole vocabulary for every pair and is limited to "
            f"{MAX_SOFTMAX_VOCAB:,} words, but the vocabulary has {vocab_size:,}: set "
            f"max_vocab={MAX_SOFTMAX_VOCAB} (or raise min_count), or use objective=ns"
        )
    if corpus.n_words == 0:
        raise CorpusError("the corpus has no in-vocabulary words to train on")
    step_bytes = step_memory_bytes(config, vocab_size)
    if step_bytes > MAX_STEP_BYTES:
        raise ConfigError(
            f"batch_size={config.batch_size} needs ~{step_bytes / 2**30:.1f} GiB of tensors per "
            f"step (limit {MAX_STEP_BYTES / 2**30:.0f} GiB): lower batch_size"
        )


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
) -> Window:
    """The centers stream[start:stop] with their dynamic windows, as position-space tensors."""
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
    get their total rate capped (module docstring). The cap never cuts a row below one step at
    lr, so it removes the batching's amplification, not the learning rate the user chose.
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
