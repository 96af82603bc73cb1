import subprocess
import sys

from study.cli import main


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
