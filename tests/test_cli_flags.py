from echovox.app.cli import commands, normalize_flags


def test_dashed_and_short_flags_are_accepted():
    argv = ["synthesize", "--prompt-text", "a-b --c", "--text-file=x-y.txt", "-o", "out.wav"]
    assert normalize_flags(argv) == [
        "synthesize",
        "--prompt_text",
        "a-b --c",
        "--text_file=x-y.txt",
        "--output",
        "out.wav",
    ]
    assert normalize_flags(["--temperature", "-0.5", "--"]) == ["--temperature", "-0.5", "--"]


def test_every_subsystem_mounts():
    cmds = commands()
    for name in ("phonemize", "synthesize", "demo", "codec", "lm", "recipe"):
        assert name in cmds, name
