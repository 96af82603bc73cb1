"""The public Python API: `import study` is light and side-effect free; every name resolves;
a corpus can be built from sentences in memory."""

import os
import subprocess
import sys

import pytest

import study
from study.core.errors import CorpusError


def test_import_study_loads_nothing_heavy_and_changes_nothing():
    code = (
        "import sys, study\n"
        "heavy = {'torch', 'gensim', 'matplotlib', 'pandas', 'numpy', 'optuna', 'scipy'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert result.stderr == ""


def test_every_public_name_resolves():
    assert study.__all__ == ["__version__", *study._EXPORTS]
    for name in study.__all__:
        assert getattr(study, name) is not None, name
    assert set(study.__all__) <= set(dir(study))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        study.nope  # noqa: B018


def test_corpus_from_sentences_is_content_addressed_and_loads(tmp_path):
    sentences = [["the", "cat", "sat"], "the  dog\tsat", ("a", "cat")]
    spec = study.corpus_from_sentences(sentences, name="pets", data_root=tmp_path)
    assert spec.startswith("sentences:pets-")
    assert study.corpus_from_sentences(sentences, name="pets", data_root=tmp_path) == spec
    other = study.corpus_from_sentences([*sentences, "more"], name="pets", data_root=tmp_path)
    assert other != spec
    corpus = study.load_corpus(spec, min_count=1, data_root=tmp_path)
    assert corpus.raw_tokens == 8 and corpus.vocab.words[:3] == ["the", "cat", "sat"]
    assert len(corpus.sentence_starts) - 1 == 3
    # a config with it validates, and its run id does not depend on the data dir's path
    assert study.RunConfig(corpus=spec).corpus == spec


@pytest.mark.parametrize(
    ("sentences", "name", "message"),
    [
        ([["a b"]], "x", "tokens must be non-empty strings without whitespace"),
        ([["a", ""]], "x", "tokens must be non-empty strings without whitespace"),
        ([["a", 3]], "x", "tokens must be non-empty strings without whitespace"),
        (["", "  "], "x", "sentences hold no tokens"),
        ("just one string", "x", "not one string"),
        ([["a"]], "../up", "corpus name '../up' must be"),
    ],
)
def test_corpus_from_sentences_rejects_bad_input(tmp_path, sentences, name, message):
    with pytest.raises(CorpusError, match=message):
        study.corpus_from_sentences(sentences, name=name, data_root=tmp_path)


def test_a_sentences_corpus_missing_from_the_data_dir_is_one_clear_error(tmp_path):
    spec = study.corpus_from_sentences(["a b c"], data_root=tmp_path / "one")
    with pytest.raises(CorpusError, match="is not in .*two/corpora: make it"):
        study.load_corpus(spec, min_count=1, data_root=tmp_path / "two")
    with pytest.raises(CorpusError, match="is not in"):
        study.load_corpus("sentences:../../etc/passwd", data_root=tmp_path)


def readme_python_block() -> str:
    """The ```python block of README's "From Python" section, as it stands."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## From Python", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return block


def test_readme_from_python_runs_as_a_notebook_would(tmp_path):
    """Sentences in memory → a 2-cell grid → the tables → a figure, all through `import study`;
    and matplotlib's backend is the one the user chose, before and after."""
    check = (
        "\nimport matplotlib\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert len(runs) == 2 and set(runs['status']) == {'done'}\n"
        "assert list(runs['vocab_size']) == [9, 9]\n"
        "import pathlib\n"
        "assert pathlib.Path('results/toy/losses.png').stat().st_size > 10_000\n"
        "assert vectors.get_vecattr('cat', 'count') == sum(s.count('cat') for s in sentences)\n"
        "assert {w for w, _ in vectors.most_similar('cat', topn=3)} <= set(animals)\n"
        "print('README block OK')\n"
    )
    env = {**os.environ, "MPLBACKEND": "svg", "W2V_STUDY_DATA": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-c", readme_python_block() + check],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "README block OK" in result.stdout
    assert "vocab_size" in result.stdout  # the printed table
