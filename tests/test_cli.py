import subprocess
import sys

import pytest

from study.cli.app import main


def test_help_lists_subcommands():
    result = subprocess.run(
        [sys.executable, "-m", "study", "--help"], capture_output=True, text=True, check=True
    )
    assert "corpus" in result.stdout


def test_corpus_info_default_offline(capsys):
    assert main(["corpus", "info"]) == 0
    out = capsys.readouterr().out
    assert "enwiki-sample" in out
    assert "tokens:        519,002" in out
    assert "vocabulary:    9,068 words with count >= 5" in out


def test_user_error_is_one_line_and_exit_code_2(capsys, tmp_path):
    assert main(["corpus", "info", "--corpus", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: corpus ") and err.count("\n") == 1
    assert "Traceback" not in err


# -- CLI defects found by trying it as a new user (issue 15); each failed before its fix ----


def test_version_flag(capsys):
    from study import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"w2v-study {__version__}"


def _small_vectors(path):
    import numpy as np
    from gensim.models import KeyedVectors

    words = ["king", "queen", "man", "woman", "car", "bus"]
    rng = np.random.default_rng(0)
    kv = KeyedVectors(vector_size=8, count=0)
    kv.add_vectors(words, rng.normal(size=(len(words), 8)).astype(np.float32))
    kv.save_word2vec_format(str(path), binary=True)
    return path


def test_eval_pairs_before_the_vectors_positional(tmp_path, capsys):
    """`--pairs FILE VECTORS` used to fail: the nargs='+' option swallowed VECTORS."""
    vectors = _small_vectors(tmp_path / "vectors.bin")
    pairs = tmp_path / "mine.txt"
    words = ["king", "queen", "man", "woman", "car", "bus"]
    rows = [f"{a} {b} {(7 * len(a) + len(b)) % 10}" for a in words for b in words if a != b]
    pairs.write_text("\n".join(rows[:20]) + "\n")  # 20 pairs: enough items for an interval
    other = tmp_path / "other.txt"
    other.write_text("man king 5\nbus queen 1\nwoman car 2\n")
    command = ["eval", "--pairs", str(pairs), "--pairs", str(other), str(vectors)]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "mine_spearman" in out and "other_spearman" in out
    # every metric with an item form gets its bootstrap interval over the items (20 pairs) ...
    [line] = [x for x in out.splitlines() if x.startswith("mine_spearman")]
    value, low, high = (float(x.strip("[],")) for x in line.split()[1:4])
    assert low <= value <= high
    # ... unless it counts too few of them (3 pairs)
    [line] = [x for x in out.splitlines() if x.startswith("other_spearman")]
    assert "[" not in line and "no interval: fewer than 20 items counted" in line
    assert main(["eval", str(vectors), "--pairs", str(pairs)]) == 0  # the other order still works
    assert "mine_spearman" in capsys.readouterr().out


def test_run_default_study_is_not_runs_runs(tmp_path, monkeypatch, planted_corpus_file):
    """`study run` used to store runs in results/runs/runs/<id>."""
    from tiny_run import FAST

    from study.core.config import RunConfig
    from study.store.results import RESULTS_ROOT_ENV

    monkeypatch.setenv(RESULTS_ROOT_ENV, str(tmp_path / "results"))
    overrides = {**FAST, "epochs": 1, "probe_pairs": 0, "corpus": str(planted_corpus_file)}
    assert main(["run", "--set", *(f"{k}={v}" for k, v in overrides.items())]) == 0
    run_id = RunConfig().with_overrides(overrides).run_id
    (metrics,) = (tmp_path / "results").rglob("metrics.json")
    assert metrics.parent.name == run_id
    assert metrics.parent.relative_to(tmp_path / "results").parts == ("scratch", "runs", run_id)


@pytest.mark.parametrize("command", ["run", "grid", "optuna"])
@pytest.mark.parametrize("flag", ["--study", "--study-name"])
def test_every_command_takes_both_study_spellings(command, flag):
    """grid said --study where optuna said --study-name; now both commands take both."""
    from study.cli.app import build_parser

    args = build_parser().parse_args([command, flag, "my-study"])
    assert args.study == "my-study"


def test_progress_bars_use_tqdm_auto():
    """Plain `tqdm` prints text bars in notebooks; `tqdm.auto` picks the notebook widget."""
    import ast
    from pathlib import Path

    import study

    offenders = []
    for path in Path(study.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "tqdm":
                offenders.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Import) and any(a.name == "tqdm" for a in node.names):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"import tqdm.auto instead of tqdm in {offenders}"
