"""Hogwild staleness, emulated in one process: W workers that step at once, each from the same
stale tables, their updates added together (the worst overlap real worker processes can have),
for a per-worker batch and row cap. Shows why the CPU worker processes share the batch and the
row cap among W (`study.train.trainers.cpu_processes.worker_step`): with full steps the most
frequent rows move W times as far as one process's step, and training diverges from W = 4.
Real processes do not step in rounds, so the share itself was measured with them (docs/DESIGN.md).

    python benchmarks/bench_staleness.py [--corpus enwiki-sample] [--epochs 5]
        [--cases 1:1024:1,2:1024:1,2:512:W,...] [--seed 0] [--out PATH]

A case is `W:batch:cap` with cap `1` (MAX_ROW_STEP per worker) or `W` (MAX_ROW_STEP / W).
Reports each case's loss per epoch (NaN: diverged) and WS353 / SimLex / analogy of the final
input vectors. One thread; deterministic for a seed.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import _common
import numpy as np
import torch

from study.core.config import RunConfig
from study.data.sampling import AliasSampler
from study.data.vocab import EncodedCorpus, load_corpus
from study.evaluate.benchmarks import registry
from study.evaluate.score import evaluate
from study.train.trainers.base import lr_at
from study.train.trainers.torch_step import MAX_ROW_STEP, make_window, train_step
from study.train.trainers.torch_walk import keep_tensor, subsample
from study.train.vectors import keyed_vectors

DEFAULT_CASES = "1:1024:1,2:1024:1,4:1024:1,2:1024:W,4:1024:W,2:512:W,4:256:W,8:128:W,16:128:W"
# the headline metrics of three benchmarks of the registry (WS353, SimLex-999, Google)
QUALITY = tuple(registry()[name].metric for name in ("ws353", "simlex", "analogy"))


def emulate(corpus: EncodedCorpus, workers: int, batch: int, cap: float, epochs: int,
            seed: int) -> dict[str, Any]:  # fmt: skip
    """Train with `workers` emulated concurrent steps of `batch` centers each."""
    cfg = RunConfig(epochs=epochs, batch_size=batch, seed=seed, probe_pairs=0, device="cpu")
    gen = torch.Generator().manual_seed(seed)
    vocab, dim = len(corpus.vocab), cfg.dim
    w_in = (torch.rand(vocab, dim, generator=gen) - 0.5) / dim
    w_out = torch.zeros(vocab, dim)
    ids = torch.as_tensor(corpus.ids.astype(np.int64))
    lengths = np.diff(corpus.sentence_starts)
    sentence = torch.as_tensor(np.repeat(np.arange(len(lengths)), lengths))
    keep = keep_tensor(corpus, cfg.sample)
    sampler = AliasSampler(corpus.vocab.counts, cfg.alpha)
    losses: list[float] = []
    for epoch in range(epochs):
        stream, sent = subsample(ids, sentence, keep, cfg.sample, gen)
        n = int(stream.shape[0])
        starts = list(range(0, n, batch))
        loss_sum, pairs = 0.0, 0.0
        for first in range(0, len(starts), workers):  # one round: W steps from the same tables
            d_in, d_out = torch.zeros_like(w_in), torch.zeros_like(w_out)
            for start in starts[first : first + workers]:
                stop = min(start + batch, n)
                lr = lr_at(cfg, (epoch + start / n) / epochs)
                win = make_window(stream, sent, start, stop, cfg.window, gen)
                negatives = sampler.sample((stop - start, cfg.negative), gen)
                a, b = w_in.clone(), w_out.clone()
                loss, n_pairs = train_step(win, a, b, cfg, lr, negatives, cap)
                loss_sum, pairs = loss_sum + float(loss), pairs + float(n_pairs)
                d_in += a - w_in
                d_out += b - w_out
            w_in += d_in
            w_out += d_out
        losses.append(loss_sum / pairs)
        if not math.isfinite(losses[-1]):
            break
    metrics: dict[str, Any] = {}
    if math.isfinite(losses[-1]):
        metrics = evaluate(keyed_vectors(corpus.vocab.words, w_in.numpy()))
    return {"losses": losses, **{k: metrics.get(k) for k in QUALITY}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="enwiki-sample")
    parser.add_argument("--max-words", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--cases", default=DEFAULT_CASES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    corpus = _common.truncated(load_corpus(args.corpus), args.max_words)
    report = _common.report_header("staleness", "cpu", vars(args))
    report["corpus"] = {"name": corpus.name, "words": corpus.n_words}
    report["cases"] = []
    for case in args.cases.split(","):
        w, batch, cap_text = case.split(":")
        workers = int(w)
        cap = MAX_ROW_STEP if cap_text == "1" else MAX_ROW_STEP / workers
        start = time.perf_counter()
        row = {"workers": workers, "batch": int(batch), "cap": cap}
        row.update(emulate(corpus, workers, int(batch), cap, args.epochs, args.seed))
        row["seconds"] = time.perf_counter() - start
        losses = " ".join(f"{x:.3f}" for x in row["losses"])
        print(f"W={workers:<2} batch={batch:<5} cap={cap:.4g}: loss {losses}; "
              f"{', '.join(f'{k} {row[k]}' for k in QUALITY)}", flush=True)  # fmt: skip
        report["cases"].append(row)
    _common.write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
