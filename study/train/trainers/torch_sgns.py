"""The PyTorch word2vec trainer: skip-gram and CBOW, negative sampling or exact full softmax.

word2vec semantics (per-epoch subsampling before windowing, dynamic window within a sentence,
negatives from count**alpha, linear lr decay, W_in ~ U(±0.5/dim), W_out = 0) with two steps:
the batched torch step (`kernel=torch`, `study.train.trainers.torch_step`, walked over the stream by
`study.train.trainers.torch_walk`) and the Triton Hogwild kernel (`kernel=triton`,
`study.train.trainers.triton_sgns`); on the CPU with more than one worker, the torch step runs in
Hogwild worker processes (`study.train.trainers.cpu_processes`). This module runs the epochs, the
callbacks and the checks. Loss: exact mean per (center, context) pair, float64. In one
process all randomness comes from one `torch.Generator`; worker processes draw each chunk's
from its own (seed, epoch, chunk) generator. Design and measurements: docs/DESIGN.md, "The
PyTorch trainer".
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from study.core.config import RunConfig
from study.core.device import resolve_device
from study.core.errors import ConfigError, CorpusError
from study.core.steps import choose_kernel, draws_per_pair
from study.data.sampling import AliasSampler
from study.data.vocab import EncodedCorpus
from study.train.trainers import triton_sgns
from study.train.trainers.base import (
    Callback,
    TrainResult,
    TrainState,
    check_finite,
    emit,
    lr_at,
    no_pairs_error,
)
from study.train.trainers.cpu_processes import worker_epochs
from study.train.trainers.torch_step import step_memory_bytes
from study.train.trainers.torch_walk import keep_tensor, subsample, walk_stream
from study.train.vectors import keyed_vectors

# Full softmax scores every word for every center: 10k words ≈ 40 MB of logits per 1k centers
# and ~3·10^6 multiply-adds per center at dim 100 (≈ 12k words/s on one CPU core at 9k words);
# beyond that negative sampling is the tool.
MAX_SOFTMAX_VOCAB = 10_000
MAX_STEP_BYTES = 4 << 30  # refuse batch sizes whose per-step tensors would exceed ~4 GiB
CpuPath = Literal["threads", "processes"]
# One epoch: (epoch index, its progress bar) -> (summed loss, pairs, last learning rate).
EpochRunner = Callable[[int, tqdm], tuple[float, int, float]]


class TorchTrainer:
    """SGNS / CBOW / full-softmax word2vec in PyTorch, with the batched torch step or the
    Triton Hogwild kernel (`config.kernel`).

    On the CPU, `config.workers` (0 = all cores) picks the path: one worker trains in this
    process (deterministic); more train as Hogwild worker processes with one thread each
    (`study.train.trainers.cpu_processes`). The run's `info` records it as `cpu_path`.

    progress: tqdm bar per epoch; None shows it only when stderr is a terminal.
    cpu_threads: CPU parallelism instead of `config.workers` (an API override).
    cpu_path: None (the rule above), "processes", or "threads": the previous multi-core path,
    `cpu_threads` intra-op threads in this process (kept for benchmarks; torch's per-op
    barriers make it collapse beside other jobs, docs/guide/cpu.md).
    """

    name = "torch"

    def __init__(
        self,
        progress: bool | None = None,
        cpu_threads: int | None = None,
        cpu_path: CpuPath | None = None,
    ):
        self.progress = progress
        self.cpu_threads = cpu_threads
        self.cpu_path = cpu_path

    def fit(
        self, corpus: EncodedCorpus, config: RunConfig, callbacks: Sequence[Callback] = ()
    ) -> TrainResult:
        device = resolve_device(config.device)
        if device.type != "cpu":
            return self._fit(corpus, config, callbacks, device, None)
        path = self.path(config, choose_kernel(config, device.type))
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads(config))
        try:
            return self._fit(corpus, config, callbacks, device, path)
        finally:
            torch.set_num_threads(previous)

    def threads(self, config: RunConfig) -> int:
        """CPU cores for this run: the trainer's setting, else config.workers (0 = all)."""
        if self.cpu_threads is not None:
            return self.cpu_threads
        return config.workers or os.cpu_count() or 1

    def path(self, config: RunConfig, kernel: str) -> CpuPath:
        """The CPU path: worker processes for the torch step on more than one core."""
        if self.cpu_path is not None:
            return self.cpu_path
        return "processes" if kernel == "torch" and self.threads(config) > 1 else "threads"

    def _fit(
        self,
        corpus: EncodedCorpus,
        config: RunConfig,
        callbacks: Sequence[Callback],
        device: torch.device,
        cpu_path: CpuPath | None,
    ) -> TrainResult:
        check_config(corpus, config)
        kernel = choose_kernel(config, device.type)  # which step: decided in study.core.steps
        gen = torch.Generator(device=device)
        gen.manual_seed(config.seed)
        vocab_size, dim = len(corpus.vocab), config.dim
        w_in = (torch.rand(vocab_size, dim, generator=gen, device=device) - 0.5) / dim
        w_out = torch.zeros(vocab_size, dim, device=device)
        n_words = corpus.n_words
        info: dict[str, Any] = {"kernel": kernel, "device": device.type}  # `study.core.steps`
        if config.objective == "ns":
            per_pair = kernel == "triton" and draws_per_pair(config)
            info["neg_draw"] = "pair" if per_pair else "center"
        if cpu_path is not None:
            info["cpu_path"] = cpu_path
        epochs: contextlib.AbstractContextManager[EpochRunner]
        if cpu_path == "processes":
            epochs = worker_epochs(corpus, config, w_in, w_out, self.threads(config), info)
        else:
            if cpu_path == "threads":
                info["cpu_threads"] = torch.get_num_threads()
            w_in, w_out, local = self._local_epochs(corpus, config, w_in, w_out, gen, kernel, info)
            epochs = contextlib.nullcontext(local)
        state = TrainState(
            config=config, corpus=corpus, epochs=config.epochs, w_in=w_in, w_out=w_out
        )
        state.lr = config.lr_start
        started = time.perf_counter()
        train_seconds = 0.0
        rows: list[dict[str, float]] = []
        with epochs as run_epoch:
            emit(callbacks, "on_train_begin", state)
            for epoch in range(config.epochs):
                emit(callbacks, "on_epoch_begin", state)
                t0 = time.perf_counter()
                with self._bar(epoch, config, n_words) as bar:
                    loss_sum, pairs, lr = run_epoch(epoch, bar)
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
            vectors=keyed_vectors(corpus.vocab.words, w_in.contiguous().cpu().numpy().copy()),
            output_vectors=w_out.cpu().numpy().copy(),
            epochs=rows,
            seconds=time.perf_counter() - started,
            train_seconds=train_seconds,
            words=n_words * config.epochs,
            info=info,
        )

    def _local_epochs(
        self,
        corpus: EncodedCorpus,
        config: RunConfig,
        w_in: torch.Tensor,
        w_out: torch.Tensor,
        gen: torch.Generator,
        kernel: str,
        info: dict[str, Any],
    ) -> tuple[torch.Tensor, torch.Tensor, EpochRunner]:
        """Epochs in this process, the batched torch step or the Triton kernel: the tables
        they train (the kernel's are padded views) and the epoch function."""
        device = w_in.device
        ids = torch.as_tensor(corpus.ids.astype(np.int64), device=device)
        lengths = np.diff(corpus.sentence_starts)
        sentence = torch.as_tensor(np.repeat(np.arange(len(lengths)), lengths), device=device)
        keep_p = keep_tensor(corpus, config.sample).to(device)
        sampler = AliasSampler(corpus.vocab.counts, config.alpha, device)
        n_words = corpus.n_words
        hogwild = None
        if kernel == "triton":
            ids, sentence = ids.to(torch.int32), sentence.to(torch.int32)
            hogwild = triton_sgns.Hogwild(config, w_in, w_out, sampler, n_words)
            w_in, w_out = hogwild.w_in, hogwild.w_out  # views of its padded tables
            info.update(hogwild.info())

        def run_epoch(epoch: int, bar: tqdm) -> tuple[float, int, float]:
            stream, sent = subsample(ids, sentence, keep_p, config.sample, gen)
            if hogwild is not None:
                return self._triton_epoch(epoch, stream, sent, hogwild, config, bar)
            n_kept = int(stream.shape[0])
            shown = 0

            def on_step(stop: int) -> None:
                nonlocal shown
                done = n_words * stop // n_kept
                bar.update(done - shown)
                shown = done

            loss_sum, pairs, lr = walk_stream(
                stream, sent, sampler, w_in, w_out, config, gen, epoch,
                lambda start: start / n_kept, on_step,
            )  # fmt: skip
            if lr is None:
                lr = lr_at(config, epoch / config.epochs)
            return float(loss_sum.item()), int(pairs.item()), lr

        return w_in, w_out, run_epoch

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
        hogwild: triton_sgns.Hogwild,
        config: RunConfig,
        bar: tqdm,
    ) -> tuple[float, int, float]:
        """One Hogwild pass with the Triton kernel; returns (summed loss, pairs, last lr)."""
        lr_first = lr_at(config, epoch / config.epochs)
        lr_last = lr_at(config, (epoch + 1) / config.epochs)
        total = int(bar.total or 0)

        def progress(fraction: float) -> None:
            bar.update(int(total * fraction) - bar.n)

        loss_sum, pairs = hogwild.epoch(epoch, stream, sent, lr_first, lr_last, progress)
        return loss_sum, pairs, lr_last


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
