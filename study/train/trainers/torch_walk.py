"""Walking the subsampled stream with the batched torch step: one whole epoch in this process
(`kernel=torch`, `workers=1`), or one chunk of it in a Hogwild worker process
(`study.train.trainers.cpu_processes`).

A chunk is a slice of the raw corpus (cut at a sentence start where one is near) with its own
random stream, seeded by (seed, epoch, chunk): its subsampling, windows and negatives are the
same whichever worker trains it and whenever. Its learning rate follows its position in the
epoch, so the workers share one linear schedule over the whole run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from study.core.config import RunConfig
from study.core.errors import DivergenceError
from study.data.sampling import AliasSampler
from study.data.vocab import EncodedCorpus, keep_probabilities
from study.train.trainers.base import lr_at
from study.train.trainers.torch_step import make_window, train_step

CHECK_EVERY = 64  # steps between divergence checks of the running loss
CHUNK_STEPS = 32  # a chunk holds at most this many batches of raw words
MIN_CHUNKS = 32  # at least this many chunks per epoch (load balance on small corpora)


@dataclass(frozen=True)
class Chunk:
    """Raw corpus positions [start, stop) of one epoch's chunk `index`."""

    index: int
    start: int
    stop: int


@dataclass
class StreamData:
    """What a walker reads: the encoded corpus, keep probabilities and the noise sampler (in
    shared memory when workers read them)."""

    ids: torch.Tensor  # (N,) int32
    sentence_starts: torch.Tensor  # (S + 1,) int64
    keep_p: torch.Tensor  # (V,) float32
    sampler: AliasSampler

    @property
    def n_words(self) -> int:
        return int(self.ids.shape[0])


def keep_tensor(corpus: EncodedCorpus, sample: float) -> torch.Tensor:
    """Each word's keep probability under subsampling, float32."""
    return torch.as_tensor(keep_probabilities(corpus.vocab.counts, sample), dtype=torch.float32)


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


@dataclass(frozen=True)
class Drawn:
    """A whole stream's random draws made up front: each center's window reach (n, 1) and its
    negatives (n, K), None for the softmax objective."""

    reach: torch.Tensor
    negatives: torch.Tensor | None


@torch.no_grad()
def walk_stream(
    stream: torch.Tensor,
    sent: torch.Tensor,
    sampler: AliasSampler,
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    config: RunConfig,
    gen: torch.Generator,
    epoch: int,
    progress_of: Callable[[int], float],
    on_step: Callable[[int], None] | None = None,
    *,
    batch_size: int | None = None,
    cap: float | None = None,
    drawn: Drawn | None = None,
) -> tuple[torch.Tensor, torch.Tensor, float | None]:
    """Batched steps over `stream` in order, updating the tables in place.

    `progress_of(start)`: the epoch's progress (0..1) at stream position `start`, for the
    learning rate; `on_step(stop)` after each step. `batch_size` and `cap` (the per-row rate
    cap) default to the config's and the step's; `drawn`: the draws made up front, else each
    step draws its own from `gen`. Returns (summed loss as a float64 tensor, pairs, the last
    step's learning rate or None without a step)."""
    n_kept = int(stream.shape[0])
    batch_size = batch_size or config.batch_size
    loss_sum = torch.zeros((), dtype=torch.float64, device=stream.device)
    pairs = torch.zeros((), dtype=torch.float64, device=stream.device)
    lr = None
    for step, start in enumerate(range(0, n_kept, batch_size)):
        stop = min(start + batch_size, n_kept)
        lr = lr_at(config, (epoch + progress_of(start)) / config.epochs)
        if drawn is None:
            win = make_window(stream, sent, start, stop, config.window, gen)
            negatives = None
            if config.objective == "ns":
                negatives = sampler.sample((stop - start, config.negative), gen)
        else:
            reach = drawn.reach[start:stop]
            win = make_window(stream, sent, start, stop, config.window, gen, reach)
            negatives = None if drawn.negatives is None else drawn.negatives[start:stop]
        loss, n_pairs = train_step(win, w_in, w_out, config, lr, negatives, cap)
        loss_sum += loss
        pairs += n_pairs
        # A cheap early stop (one scalar read) instead of running a diverged epoch out.
        if step % CHECK_EVERY == CHECK_EVERY - 1 and not math.isfinite(loss_sum.item()):
            raise diverged(epoch, loss_sum.item(), config)
        if on_step is not None:
            on_step(stop)
    return loss_sum, pairs, lr


def diverged(epoch: int, loss: float, config: RunConfig) -> DivergenceError:
    return DivergenceError(
        f"training diverged in epoch {epoch + 1} (loss={loss}): "
        f"lower lr_start (now {config.lr_start})"
    )


# -- chunks (the process path) ----------------------------------------------------------------
def plan_chunks(sentence_starts: np.ndarray, batch_size: int) -> list[Chunk]:
    """An epoch's chunks: `CHUNK_STEPS` batches of raw words each, or smaller so that there are
    at least `MIN_CHUNKS`; each boundary moved back to the sentence start before it when that
    keeps the chunk non-empty (a window never crosses a sentence, so a cut there loses no
    pair). The plan does not depend on the number of workers: every worker count trains the
    same chunks with the same random streams."""
    n_words = int(sentence_starts[-1])
    size = max(1, min(CHUNK_STEPS * batch_size, math.ceil(n_words / MIN_CHUNKS)))
    bounds = [0]
    for target in range(size, n_words, size):
        snapped = int(sentence_starts[np.searchsorted(sentence_starts, target, "right") - 1])
        cut = snapped if snapped > bounds[-1] else target
        if cut > bounds[-1]:
            bounds.append(cut)
    bounds.append(n_words)
    return [Chunk(i, a, b) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]


def chunk_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The chunk's own random stream, independent of which worker trains it."""
    (state,) = np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)
    return torch.Generator().manual_seed(int(state))


@torch.no_grad()
def train_chunk(
    data: StreamData,
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    config: RunConfig,
    epoch: int,
    chunk: Chunk,
    batch_size: int | None = None,
    cap: float | None = None,
) -> tuple[float, int]:
    """Subsample one chunk and draw its windows and negatives with its own generator, then
    walk it in steps of `batch_size` centers (the config's by default) with row cap `cap`;
    returns (summed loss, pairs). The draws do not depend on the step size."""
    gen = chunk_generator(config.seed, epoch, chunk.index)
    positions = torch.arange(chunk.start, chunk.stop)
    sentence = torch.searchsorted(data.sentence_starts, positions, right=True) - 1
    ids = data.ids[chunk.start : chunk.stop].to(torch.int64)
    stream, sent = subsample(ids, sentence, data.keep_p, config.sample, gen)
    n_kept, size, n_words = int(stream.shape[0]), chunk.stop - chunk.start, data.n_words
    reach = torch.randint(1, config.window + 1, (n_kept, 1), generator=gen)
    negatives = None
    if config.objective == "ns":
        negatives = data.sampler.sample((n_kept, config.negative), gen)

    def progress_of(start: int) -> float:
        return (chunk.start + size * start / n_kept) / n_words

    loss_sum, pairs, _ = walk_stream(
        stream, sent, data.sampler, w_in, w_out, config, gen, epoch, progress_of,
        batch_size=batch_size, cap=cap, drawn=Drawn(reach, negatives),
    )  # fmt: skip
    loss = float(loss_sum.item())
    if not math.isfinite(loss):
        raise diverged(epoch, loss, config)
    return loss, int(pairs.item())
