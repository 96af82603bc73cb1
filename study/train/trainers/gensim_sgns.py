"""gensim baseline: a `RunConfig` trained by `gensim.models.Word2Vec` on our encoded corpus and
vocabulary (same word order as the torch trainer), calling our callbacks with our epoch rows.
Its per-epoch loss repairs gensim's loss tally (float32 sum, racy across workers) and its pair
count is derived from gensim's effective words; docs/DESIGN.md ("The gensim baseline") explains
both and why the probe, not this loss, compares trainers.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from gensim.models import Word2Vec
from gensim.models.callbacks import CallbackAny2Vec
from gensim.models.word2vec_inner import train_batch_cbow, train_batch_sg
from tqdm.auto import tqdm

from study.core.config import RunConfig
from study.core.steps import own_step
from study.data.vocab import EncodedCorpus, retained_stream
from study.train.trainers.base import (
    Callback,
    TrainResult,
    TrainState,
    check_finite,
    emit,
    no_pairs_error,
)
from study.train.vectors import keyed_vectors

Tally = Literal["job", "stock"]


class _JobModel:
    """The model as one job sees it, with a private `running_training_loss`.

    gensim's Cython batch functions read the model's attributes and read/write its
    `running_training_loss`; giving each job this proxy makes the tally per job.
    """

    def __init__(self, model: Word2Vec) -> None:
        self._model = model
        self.running_training_loss = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class _CountingWord2Vec(Word2Vec):
    """Word2Vec that counts words per job and (tally="job") tallies each job's loss apart."""

    def __init__(self, *args: Any, tally: Tally = "job", **kwargs: Any) -> None:
        self.tally = tally
        self._lock = threading.Lock()
        self.effective_words = 0  # since the last reset_counts()
        self.raw_words = 0
        self.progress_bar: tqdm | None = None  # the current epoch's bar, advanced per job
        super().__init__(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)  # a lock cannot be pickled (Word2Vec.save)
        state["progress_bar"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def reset_counts(self) -> None:
        with self._lock:
            self.effective_words = 0
            self.raw_words = 0
            self.running_training_loss = 0.0

    def _do_train_job(self, sentences: Any, lr: float, inits: Any) -> tuple[int, int]:
        # gensim passes its `alpha` here, which is the learning rate (our `alpha` is the noise
        # exponent, gensim's `ns_exponent`); gensim calls this positionally.
        work, neu1 = inits
        model: Any = _JobModel(self) if self.tally == "job" else self
        if self.sg:
            effective = train_batch_sg(model, sentences, lr, work, self.compute_loss)
        else:
            effective = train_batch_cbow(model, sentences, lr, work, neu1, self.compute_loss)
        raw = self._raw_word_count(sentences)
        with self._lock:
            self.effective_words += effective
            self.raw_words += raw
            if model is not self:
                self.running_training_loss += float(model.running_training_loss)
            if self.progress_bar is not None:
                self.progress_bar.update(raw)
        return effective, raw


def expected_contexts_per_word(
    corpus: EncodedCorpus, window: int, sample: float, seed: int = 0
) -> float:
    """ρ: expected skip-gram contexts per retained word, sentence edges included.

    Retained sentence lengths come from one seeded subsampling draw; for a sentence of n words
    the expected pair count is 2 Σ_{i<n} g(i), g(i) = E[min(i, b)], b ~ U{1..window}.
    """
    _, sentence_of = retained_stream(corpus, sample, np.random.default_rng([seed, 7]))
    lengths = np.bincount(sentence_of, minlength=len(corpus.sentence_starts) - 1)
    if lengths.sum() == 0:
        return 0.0
    i = np.arange(int(lengths.max()), dtype=np.float64)
    b = np.arange(1, window + 1, dtype=np.float64)
    g = np.minimum(i[:, None], b[None, :]).mean(axis=1)  # E[min(i, b)]
    pairs_up_to = np.concatenate([[0.0], 2.0 * np.cumsum(g)])  # pairs in a sentence of n words
    return float(pairs_up_to[lengths].sum() / lengths.sum())


class _Adapter(CallbackAny2Vec):
    """gensim callback → our callbacks, with the same `TrainState` and epoch rows."""

    def __init__(
        self,
        state: TrainState,
        callbacks: Sequence[Callback],
        contexts_per_word: float,
        progress: bool | None = None,
    ) -> None:
        self.state = state
        self.callbacks = callbacks
        self.contexts_per_word = contexts_per_word
        self.progress = progress
        self.rows: list[dict[str, float]] = []
        self.started = time.perf_counter()  # set again just before train()
        self.train_seconds = 0.0  # sum of the epochs' seconds (callbacks excluded)
        self.words = 0
        self._epoch_start = 0.0

    def _emit(self, hook: str) -> None:
        emit(self.callbacks, hook, self.state)

    def on_train_begin(self, model: _CountingWord2Vec) -> None:
        self._emit("on_train_begin")

    def on_epoch_begin(self, model: _CountingWord2Vec) -> None:
        self._emit("on_epoch_begin")
        model.reset_counts()
        # words per epoch as gensim counts them (its jobs report raw words of our sentences)
        model.progress_bar = tqdm(
            total=self.state.corpus.n_words,
            unit="w",
            unit_scale=True,
            desc=f"epoch {self.state.epoch + 1}/{self.state.epochs}",
            disable=None if self.progress is None else not self.progress,
            leave=False,
        )
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, model: _CountingWord2Vec) -> None:
        seconds = time.perf_counter() - self._epoch_start
        if model.progress_bar is not None:
            model.progress_bar.close()
            model.progress_bar = None
        state = self.state
        effective = model.effective_words
        pairs = effective * self.contexts_per_word if model.sg else float(effective)
        loss_sum = float(model.running_training_loss)
        state.epoch += 1
        state.words = model.raw_words
        state.pairs = int(round(pairs))
        state.seconds = seconds
        state.total_seconds = time.perf_counter() - self.started
        self.train_seconds += seconds
        state.lr = float(model.min_alpha_yet_reached)
        if pairs <= 0:  # no pairs is a corpus problem: 0/0 would read as divergence
            raise no_pairs_error(state.config, state.epoch)
        state.loss = loss_sum / pairs
        self.words += model.raw_words
        check_finite(state.loss, model.wv.vectors, model.syn1neg, where=f"epoch {state.epoch}")
        state.row = state.standard_row()
        self._emit("on_epoch_end")
        self.rows.append(state.row)

    def on_train_end(self, model: _CountingWord2Vec) -> None:
        self._emit("on_train_end")


class GensimTrainer:
    """`RunConfig` → `gensim.models.Word2Vec` (negative sampling, hs=0).

    progress: a tqdm bar per epoch, advanced as gensim's jobs finish (like the torch trainer's);
    None shows it only when stderr is a terminal.
    """

    name = "gensim"

    def __init__(self, tally: Tally = "job", progress: bool | None = None) -> None:
        self.tally: Tally = tally
        self.progress = progress
        self.model: Word2Vec | None = None  # the last trained model (for inspection)

    def fit(
        self, corpus: EncodedCorpus, config: RunConfig, callbacks: Sequence[Callback] = ()
    ) -> TrainResult:
        step = own_step(config, self.name)  # kernel, negatives, device (`study.core.steps`)
        assert step is not None, "gensim is registered with its own step"
        model = self.build_model(corpus, config)
        self.model = model
        state = TrainState(
            config=config,
            corpus=corpus,
            epochs=config.epochs,
            w_in=model.wv.vectors,
            w_out=model.syn1neg,
            lr=config.lr_start,
        )
        rho = expected_contexts_per_word(corpus, config.window, config.sample, config.seed)
        sentences = corpus.sentences()
        adapter = _Adapter(state, callbacks, rho, self.progress)
        adapter.started = time.perf_counter()
        model.train(
            sentences,
            total_examples=model.corpus_count,
            epochs=config.epochs,
            compute_loss=True,  # must be passed to train(): train() resets the model's flag
            callbacks=[adapter],
        )
        seconds = time.perf_counter() - adapter.started
        return TrainResult(
            vectors=keyed_vectors(corpus.vocab.words, model.wv.vectors),
            output_vectors=np.array(model.syn1neg, dtype=np.float32, copy=True),
            epochs=adapter.rows,
            seconds=seconds,
            train_seconds=adapter.train_seconds,
            words=adapter.words,
            info={**step, "workers": model.workers},
        )

    def build_model(self, corpus: EncodedCorpus, config: RunConfig) -> _CountingWord2Vec:
        """The untrained gensim model with our vocabulary (checked word for word)."""
        from study.train.internals import require

        require("gensim")  # _CountingWord2Vec overrides gensim internals
        workers = config.workers or os.cpu_count() or 1
        model = _CountingWord2Vec(
            tally=self.tally,
            vector_size=config.dim,
            window=config.window,
            min_count=1,  # the vocabulary is already filtered: gensim must keep every word
            sample=config.sample,
            seed=config.seed,
            workers=workers,
            min_alpha=config.lr_end,
            alpha=config.lr_start,
            sg=1 if config.model == "sg" else 0,
            hs=0,
            negative=config.negative,
            ns_exponent=config.alpha,
            epochs=config.epochs,
            sorted_vocab=0,  # keep our order (gensim's sort reverses ties)
        )
        words = corpus.vocab.words
        counts = corpus.vocab.counts
        model.build_vocab_from_freq(
            dict(zip(words, counts.tolist(), strict=True)),
            corpus_count=len(corpus.sentence_starts) - 1,
        )
        check_same_vocab(model, words, counts)
        return model


def check_same_vocab(model: Word2Vec, words: Sequence[str], counts: np.ndarray) -> None:
    """gensim's vocabulary must be ours word for word (same order, same counts)."""
    gensim_counts = np.asarray(model.wv.expandos["count"], dtype=np.int64)
    if list(model.wv.index_to_key) != list(words) or not np.array_equal(gensim_counts, counts):
        raise RuntimeError("gensim's vocabulary differs from the corpus vocabulary")
