"""TensorBoard logging as a callback (the `tensorboard` extra): epoch rows, evaluation metrics,
hyperparameters and the embeddings for the projector (docs/DESIGN.md, "Trainers and callbacks").
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from study.core.errors import StudyError
from study.core.redact import redact
from study.train.trainers.base import Callback, TrainState
from study.train.vectors import keyed_vectors

TENSORBOARD_DIR = "tensorboard"  # inside a run folder


def require_tensorboard() -> None:
    """A one-line error when the tensorboard package (the `tensorboard` extra) is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401 (imports tensorboard)
    except ImportError:
        raise StudyError(
            "TensorBoard logging needs the tensorboard package: "
            "pip install 'w2v-study[tensorboard]'"
        ) from None


class TensorBoardCallback(Callback):
    def __init__(
        self, log_dir: str | Path, eval_every: int = 0, projector_words: int = 5000
    ) -> None:
        require_tensorboard()
        self.log_dir = Path(log_dir)
        self.eval_every = eval_every  # 0: evaluate only at the end
        self.projector_words = projector_words
        self.writer: Any = None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A file where the folder should be, a read-only or full disk: one line naming the
        folder (a traceback stopped the grid); the run then fails, and a grid goes on."""
        try:
            yield
        except OSError as exc:
            with contextlib.suppress(Exception):  # its thread must not outlive the run
                if self.writer is not None:
                    self.writer.close()
            self.writer = None
            raise StudyError(
                f"cannot write TensorBoard logs in {self.log_dir}: {exc.strerror or exc}"
            ) from None

    def on_train_begin(self, state: TrainState) -> None:
        from torch.utils.tensorboard import SummaryWriter

        with self._writing():
            if self.log_dir.is_dir():  # a rerun: old curves would be drawn over the new ones
                for old in self.log_dir.rglob("*"):
                    if old.is_file():
                        old.unlink()
            self.writer = SummaryWriter(log_dir=str(self.log_dir))

    def on_epoch_end(self, state: TrainState) -> None:
        with self._writing():
            self._epoch_end(state)

    def on_train_end(self, state: TrainState) -> None:
        with self._writing():
            self._train_end(state)

    def _epoch_end(self, state: TrainState) -> None:
        for name, value in state.row.items():
            if name != "epoch" and _is_number(value):
                self.writer.add_scalar(f"epoch/{name}", float(value), state.epoch)
        last = state.epoch == state.epochs
        if self.eval_every and state.epoch % self.eval_every == 0 and not last:
            self._log_metrics(self._evaluate(state), state.epoch)
        self.writer.flush()

    def _train_end(self, state: TrainState) -> None:
        metrics = self._evaluate(state)
        self._log_metrics(metrics, state.epoch)
        hparams = {k: _hparam(v) for k, v in state.config.to_dict().items()}
        finite = {f"hparams/{k}": v for k, v in metrics.items() if math.isfinite(v)}
        self.writer.add_hparams(hparams, finite, run_name=".")  # "." keeps it in this run
        n = min(self.projector_words, len(state.corpus.vocab))
        if n > 0:
            self.writer.add_embedding(
                state.input_vectors()[:n],
                metadata=state.corpus.vocab.words[:n],
                global_step=state.epoch,
                tag="input_vectors",
            )
        self.writer.close()

    def _evaluate(self, state: TrainState) -> dict[str, float]:
        from study.evaluate.score import evaluate

        metrics = evaluate(keyed_vectors(state.corpus.vocab.words, state.input_vectors()))
        return {k: float(v) for k, v in metrics.items()}

    def _log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for name, value in metrics.items():
            if math.isfinite(value):
                self.writer.add_scalar(f"eval/{name}", value, step)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _hparam(value: Any) -> bool | int | float | str:
    """TensorBoard's HPARAMS take bool, int, float or str (None → "None"); text is redacted
    like every recorded value (`study.core.redact`)."""
    if isinstance(value, bool | int | float):
        return value
    return redact(str(value))
