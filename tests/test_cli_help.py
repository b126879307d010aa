"""Every command's --help names values in plain words (FILE, DATE, N), flags take none, and
required options say so."""

import re

import pytest
import typer.main
from typer.testing import CliRunner

from churnlab.cli import VALUE_WORDS, app

#: what Typer writes for a value without a word of its own: the Python type in angle brackets
TYPE_METAVAR = re.compile(r"<(str|int|float|bool|path|text|datetime|integer|list\[[^\]]*\]|[a-z]+ range)>", re.I)


def _commands():
    group = typer.main.get_command(app)
    ctx = group.make_context("churnlab", ["--help"], resilient_parsing=True)
    return group, ctx, {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}


def _help(*args: str) -> str:
    res = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert res.exit_code == 0, res.output
    return res.output


def _row(text: str, option: str) -> str:
    """The help table's line of ``option`` (not the usage line)."""
    rows = [line for line in text.splitlines() if line.startswith("│") and re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", line)]
    assert rows, f"{option} not in the help:\n{text}"
    return rows[0]


def test_the_commands_are_all_checked():
    _, _, commands = _commands()
    assert {"train", "score", "report", "monitor", "backtest", "init", "demo", "cdnow", "version"} <= set(commands)


@pytest.mark.parametrize("command", [None, "train", "demo", "init", "cdnow", "score", "backtest", "monitor", "report", "version"])
def test_help_shows_no_python_types_and_marks_required_options(command):
    group, ctx, commands = _commands()
    text = _help(*([command] if command else []))
    assert not TYPE_METAVAR.search(text), TYPE_METAVAR.search(text).group(0)
    cmd = group if command is None else commands[command]
    sub = cmd.make_context(command or "churnlab", ["--help"], parent=None if command is None else ctx, resilient_parsing=True)
    for param in cmd.get_params(sub):
        shown = param.display_type_rich(sub) or ""
        assert "<" not in shown and shown == shown.strip(), (command, param.name, shown)
        if getattr(param, "is_flag", False):
            assert shown == "", (command, param.name)  # a flag takes no value
        row = _row(text, param.opts[0] if param.param_type_name == "option" else (param.metavar or param.name.upper()))
        assert ("[required]" in row) == bool(param.required), (command, param.name, row)


def test_values_are_named_by_what_they_are():
    score, report, init, train = _help("score"), _help("report"), _help("init"), _help("train")
    assert re.search(r"--as-of\s+DATE\s", score) and re.search(r"--model\s+URI\s", score)
    assert re.search(r"--events\s+PATH\s", score) and re.search(r"--out\s+FILE\s", score)
    assert re.search(r"--top-k\s+N\s", score) and re.search(r"--high\s+P\s", score)
    assert re.search(r"--workdir\s+FOLDER\s", train) and re.search(r"--config\s+-c\s+FILE\s", train)
    assert re.search(r"--top-decile\s+--no-top-decile\s+Tier by rank", score)  # a flag: no word
    assert re.search(r"--help\s+Show this message", report)
    assert re.search(r"PATH\s+A folder of event files", init)
    # the words are words: no brackets, no Python types
    assert all(re.fullmatch(r"[A-Za-z|_]+", word) for word in VALUE_WORDS.values())


def test_a_missing_required_option_is_named_by_its_flag():
    res = CliRunner().invoke(app, ["score", "--out", "x.csv"])
    assert res.exit_code == 2
    assert "--model" in res.output
