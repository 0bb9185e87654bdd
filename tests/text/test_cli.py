import json
import subprocess
import sys

CLI = [sys.executable, "-m", "echovox.app.cli"]


def run(*args):
    return subprocess.run([*CLI, *args], capture_output=True, text=True)


def test_phonemize_prints_words_and_phonemes():
    res = run("phonemize", "Dr. Smith paid $3.50 on Jan. 5th.")
    assert res.returncode == 0, res.stderr
    assert "doctor Smith paid three dollars fifty cents on January fifth." in res.stdout
    assert "d ˈ ɑː k t ɚ" in res.stdout


def test_phonemize_json():
    res = run("phonemize", "Hello there. Bye!", "--format", "json")
    rows = json.loads(res.stdout)
    assert [r["normalized"] for r in rows] == ["Hello there.", "Bye!"]
    assert rows[0]["words"][0][0] == "Hello"


def test_phonemize_bad_input_is_a_clear_error():
    res = run("phonemize", "   ")
    assert res.returncode != 0
    assert "empty" in res.stderr and "Traceback" not in res.stderr
    res = run("phonemize", "hi", "--language", "xx")
    assert res.returncode != 0 and "supported" in res.stderr


def test_help_lists_subcommands():
    res = run("--help")
    assert res.returncode == 0 and "phonemize" in res.stdout
