"""The CLI maps onto the API, and every bad input is one line, exit 1, nothing changed."""

import io
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from ide.cli import main as cli
from ide.cli.commands import COMMANDS
from ide.repo import staged, versions

from conftest import write_imagefolder


def snapshot(ws):
    """What a failed command must leave as it was."""
    files = sorted(str(p.relative_to(ws.root)) for p in ws.root.rglob("*")
                   if ".git" not in p.parts and ".ide" not in p.parts and ".dvc" not in p.parts)
    stage = {n: staged.read(ws, n) for n in versions.datasets(ws)}
    return ws.head(), ws.git("status", "--porcelain"), files, stage


def assert_one_line_error(code, out, err, match):
    assert code == 1
    assert err.startswith("ide: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert match in err


@pytest.fixture
def bad_src(tmp_path):
    src = write_imagefolder(tmp_path / "bad", per_class=3)
    (src / "h" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (src / "v" / "notes.png").write_text("hello")
    return src


def csv_file(tmp_path, text):
    p = tmp_path / "labels.csv"
    p.write_text(text)
    return p


@pytest.mark.parametrize("argv, match", [
    (["log", "nope"], "unknown dataset 'nope'"),
    (["relabel", "toy", "h/999.png", "v"], "unknown example id 'h/999.png'"),
    (["relabel", "toy", "h/001.png", "cat"], "unknown class 'cat'"),
    (["relabel", "toy", "h/001.png", ""], "empty label"),
    (["relabel", "toy", "h/001.png"], "pairs of ID LABEL"),
    (["commit", "toy", "-m", "nothing"], "nothing staged"),
    (["commit", "toy", "-m", "x", "--author", "ann"], "Name <email>"),
    (["diff", "toy", "no-such-rev"], "unknown revision: no-such-rev"),
    (["checkout", "toy", "deadbeef"], "unknown revision"),
    (["history", "toy", "nope.png"], "unknown example id"),
    (["import", "toy", "{tmp}/missing"], "already exists"),
    (["import", "new", "{tmp}/missing"], "not a folder"),
    (["import", "../x", "{tmp}"], "invalid dataset name"),
    (["suspects", "toy"], "not trained yet"),
    (["export", "toy", "{tmp}/ws"], "not empty"),
])
def test_bad_input_is_one_line_and_changes_nothing(toy, run, tmp_path, argv, match):
    before = snapshot(toy)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert_one_line_error(*run(toy, *argv), match)
    assert snapshot(toy) == before


def test_outside_any_workspace(run, tmp_path):
    assert_one_line_error(*run(None, "-C", str(tmp_path), "log", "x"), "not inside an ide workspace")


@pytest.mark.parametrize("rows, match", [
    ("file,label\na.png,x\n", "missing column(s) path"),
    ("path,label\nh/000.png,x\nh/000.png,y\n", "duplicate path h/000.png"),
    ("path,label\n../outside.png,x\n", "escapes the source folder"),
    ("path,label\n/etc/passwd,x\n", "escapes the source folder"),
    ("path,label\nlink.png,x\n", "escapes the source folder (symlink)"),
    ("path,label\nh/000.png,\n", "empty label"),
])
def test_bad_csv_imports_nothing(ws, run, tmp_path, rows, match):
    src = write_imagefolder(tmp_path / "src", per_class=2)
    (tmp_path / "outside.png").write_bytes((src / "h" / "000.png").read_bytes())
    os.symlink(tmp_path / "outside.png", src / "link.png")
    before = snapshot(ws)
    code, out, err = run(ws, "import", "new", str(src), "--labels", str(csv_file(tmp_path, rows)))
    assert_one_line_error(code, out, err, match)
    assert snapshot(ws) == before and not (ws.root / "datasets" / "new").exists()


def test_symlink_out_of_an_imagefolder_is_refused(ws, run, tmp_path):
    src = write_imagefolder(tmp_path / "src", per_class=2)
    (tmp_path / "secret.png").write_bytes((src / "h" / "000.png").read_bytes())
    os.symlink(tmp_path / "secret.png", src / "h" / "sneaky.png")
    assert_one_line_error(*run(ws, "import", "new", str(src)), "symlink")


def test_corrupt_images_are_all_named_and_none_imported(ws, run, bad_src):
    before = snapshot(ws)
    code, out, err = run(ws, "import", "new", str(bad_src))
    assert_one_line_error(code, out, err, "2 bad file(s)")
    assert "h/broken.png" in err and "v/notes.png" in err
    assert snapshot(ws) == before


def test_skip_bad_imports_the_rest_and_lists_what_it_skipped(ws, run, bad_src):
    code, out, err = run(ws, "import", "new", str(bad_src), "--skip-bad")
    assert code == 0 and "imported 9 examples" in out
    assert "skipped h/broken.png" in out and "skipped v/notes.png" in out
    assert len(versions.resolve(ws, "new").labels) == 9


def test_cli_round_trip_json(toy, run):
    assert run(toy, "relabel", "toy", "h/001.png", "v", "v/002.png", "d")[0] == 0
    code, out, _ = run(toy, "status", "toy", "--json")
    assert json.loads(out)[0]["labels"] == [
        {"id": "h/001.png", "old": "h", "new": "v"}, {"id": "v/002.png", "old": "v", "new": "d"}]
    code, out, _ = run(toy, "commit", "toy", "-m", "Two fixes", "--author", "Bo <bo@x.org>")
    rev = out.strip()
    assert code == 0 and rev == toy.head()
    log = json.loads(run(toy, "log", "toy", "--json")[1])
    assert log[0]["commit"] == rev and log[0]["edits"] == 2 and log[0]["metrics"] is None
    assert log[0]["author"] == "Bo <bo@x.org>" and log[0]["message"] == "Two fixes"
    diff = json.loads(run(toy, "diff", "toy", "HEAD~1", "HEAD", "--json")[1])
    assert diff == [{"id": "h/001.png", "old": "h", "new": "v"},
                    {"id": "v/002.png", "old": "v", "new": "d"}]
    hist = json.loads(run(toy, "history", "toy", "h/001.png", "--json")[1])
    assert [h["label"] for h in hist] == ["v", "h"]
    assert set(hist[0]) == {"commit", "author", "date", "message", "label"}
    assert run(toy, "revert", "toy", rev)[0] == 0
    assert json.loads(run(toy, "diff", "toy", "HEAD~2", "--json")[1]) == []


def test_every_command_has_help():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():
        assert command.description, f"`ide {name}` has no help text"


# -- help, version, completion ----------------------------------------------------------
def _subcommands(parser):
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices


def _words(text: str) -> str:
    return " ".join(text.split())


def test_every_help_renders_what_it_was_given(monkeypatch):
    """`ide --help` and `ide CMD --help` show each help text as written (a bare % in one
    used to print argparse's internals into the command list)."""
    monkeypatch.setenv("COLUMNS", "400")  # no line wrapping to undo
    parser = cli.build_parser()
    top = _words(parser.format_help())
    assert "option_strings" not in top
    for name, command in _subcommands(parser).items():
        assert _words(command.description) in top, name
        page = _words(command.format_help())
        assert "option_strings" not in page and _words(command.description) in page
        for action in command._actions:
            if action.help and action.help != "==SUPPRESS==":
                assert _words(action.help.replace("%%", "%")) in page, (name, action.dest)
    assert "5% label noise" in top


def test_a_shared_option_means_the_same_everywhere_and_choices_are_their_owners():
    """An option several commands take is one option (same default, type, help), every
    command that reads a revision takes --rev (default HEAD), and a choice offered is the
    list of the module that acts on it: a new ranking method or export format needs no
    second edit here."""
    from ide.learn import rank, train
    from ide.ops import duplicates, suggest, transfer

    commands = _subcommands(cli.build_parser())

    def option(name, flag):
        return commands[name]._option_string_actions[flag]

    def takers(flag):
        return {name for name, c in commands.items() if flag in c._option_string_actions}

    for flag in ("--json", "--author", "--top", "--device", "--pull-every", "--pull-from",
                 "--host", "--port"):
        # similar's --top counts the example itself and has no "0: all"
        assert len({(a.default, a.type, a.help, a.choices) for a in (
            option(name, flag) for name in takers(flag) - {"similar"})}) == 1, flag
    assert takers("--rev") == {"duplicates", "outliers", "issues", "log", "export", "retrain",
                               "suspects", "similar"}
    assert {option(name, "--rev").default for name in takers("--rev")} == {"HEAD"}
    assert {option(name, "--remote").default for name in ("push", "pull")} == {"origin"}
    assert list(option("suspects", "--method").choices) == list(rank.METHODS)
    assert option("suspects", "--method").default == rank.DEFAULT_METHOD
    assert list(option("suggest", "--order").choices) == list(suggest.ORDERS)
    assert list(option("export", "--format").choices) == list(transfer.FORMATS)
    threshold = option("duplicates", "--threshold")
    assert threshold.default == duplicates.NEAR
    assert f"(default {duplicates.NEAR})" in threshold.help
    assert takers("--device") == {"retrain", "watch", "publish"}
    assert all(device in option("retrain", "--device").help for device in train.DEVICES)


def test_version(capsys):
    from ide import __version__

    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"ide {__version__}\n"


def test_help_walkthrough_is_made_of_real_commands(run, capsys):
    """Every example line of `ide help` is a valid command line."""
    import shlex

    code, out, _ = run(None, "help")
    examples = [line.split("#")[0].split(" > ")[0].strip() for line in out.splitlines()
                if line.startswith("  ide ")]  # a comment, or where the output goes
    assert len(examples) >= 10
    parser = cli.build_parser()
    runs = {command.name: command.run for command in COMMANDS}
    for line in examples:
        argv = shlex.split(line)[1:]
        args = parser.parse_args(argv)
        assert args.run is runs[argv[0]]
    assert {shlex.split(e)[1] for e in examples} >= {"import", "retrain", "suspects",
                                                     "relabel", "commit", "log", "serve"}
    code, out, _ = run(None, "help", "diff")
    assert code == 0 and out.startswith("usage: ide diff")
    assert_one_line_error(*run(None, "help", "nosuch"), "no command 'nosuch'")


@pytest.mark.skipif(not shutil.which("bash"), reason="no bash")
def test_bash_completion_completes_commands_options_and_datasets(run, toy, tmp_path):
    code, script, _ = run(None, "completion", "bash")
    assert code == 0
    (tmp_path / "ide.bash").write_text(script)

    def complete(*words):
        line = " ".join(["ide", *words])
        out = subprocess.run(
            ["bash", "-c", f'source {tmp_path / "ide.bash"}; COMP_WORDS=({line}); '
             f"COMP_CWORD={len(words)}; _shtab_ide; printf '%s\\n' \"${{COMPREPLY[@]}}\""],
            cwd=toy.root / "datasets", capture_output=True, text=True, check=True).stdout
        return set(out.split())
    assert complete("re") == {"relabel", "remove", "resolve", "retrain", "revert"}
    assert complete("suspects", "toy", "--m") == {"--method"}
    assert complete("log", "''") == {"toy"}  # dataset names, from the workspace's folder
    code, zsh, _ = run(None, "completion", "zsh")
    assert code == 0 and zsh.startswith("#compdef ide") and "_ide_datasets" in zsh


# -- --json everywhere, errors as JSON ------------------------------------------------------
def test_json_of_the_commands_that_change_things(toy, run, tmp_path):
    def js(*argv):
        code, out, err = run(toy, *argv, "--json")
        assert code == 0 and err == "", err
        return json.loads(out)

    res = js("relabel", "toy", "h/001.png", "v")
    assert res == {"dataset": "toy", "staged": [{"id": "h/001.png", "old": "h", "new": "v"}]}
    assert js("check", "toy", "d/002.png") == {"dataset": "toy", "checked": ["d/002.png"]}
    res = js("commit", "toy", "-m", "One fix")
    assert res == {"dataset": "toy", "commit": toy.head()}
    fixed = res["commit"]
    res = js("revert", "toy", fixed)
    assert res["commit"] == toy.head() != fixed
    assert versions.resolve(toy, "toy").labels["h/001.png"] == "h"
    res = js("checkout", "toy", fixed)
    assert res["commit"] == toy.head() and versions.resolve(toy, "toy").labels["h/001.png"] == "v"
    res = js("export", "toy", str(tmp_path / "out"), "--format", "csv")
    assert res == {"dataset": "toy", "examples": 90, "out": str(tmp_path / "out"),
                   "format": "csv"}
    assert (tmp_path / "out" / "labels.csv").read_text().count("\n") == 91
    src = write_imagefolder(tmp_path / "src", per_class=2)
    res = js("import", "more", str(src))
    assert res == {"commit": toy.head(), "examples": 6, "classes": ["d", "h", "v"],
                   "skipped": [], "model": "auto", "model_chosen": True}
    assert js("init", str(tmp_path / "ws2")) == {"root": str(tmp_path / "ws2")}


@pytest.mark.parametrize("argv, match", [
    (["relabel", "toy", "h/999.png", "v"], "unknown example id 'h/999.png'"),
    (["check", "toy", "nope.png"], "unknown example id"),
    (["commit", "toy", "-m", "nothing"], "nothing staged"),
    (["checkout", "toy", "deadbeef"], "unknown revision"),
    (["revert", "toy", "deadbeef"], "unknown revision"),
    (["export", "toy", "{tmp}/ws"], "not empty"),
    (["import", "new", "{tmp}/missing"], "not a folder"),
    (["suspects", "toy"], "not trained yet"),
    (["log", "nope"], "unknown dataset 'nope'"),
])
def test_errors_with_json_are_json_on_stderr(toy, run, tmp_path, argv, match):
    before = snapshot(toy)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run(toy, *argv, "--json")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert match in json.loads(err)["error"]
    assert snapshot(toy) == before


def test_a_malformed_command_line_with_json(run):
    code, out, err = run(None, "relabel", "--json")
    assert code == 2 and out == ""
    assert "required" in json.loads(err)["error"]


@pytest.mark.parametrize("argv", [
    ["status", "nosuch"], ["log", "nosuch"], ["diff", "nosuch", "HEAD"],
    ["history", "nosuch", "a.png"], ["relabel", "nosuch", "a.png", "b"],
    ["check", "nosuch", "a.png"], ["unstage", "nosuch"], ["commit", "nosuch", "-m", "x"],
    ["resolve", "nosuch", "a.png", "b"], ["checkout", "nosuch", "HEAD"],
    ["revert", "nosuch", "HEAD"], ["export", "nosuch", "{tmp}/out"],
    ["export", "nosuch", "{tmp}/p.csv", "--format", "predictions"],
    ["predictions", "nosuch", "{tmp}/p.csv"], ["retrain", "nosuch"], ["suspects", "nosuch"],
    ["issues", "nosuch"],
])
def test_an_unknown_dataset_is_said_so_by_every_command(toy, run, tmp_path, argv):
    before = snapshot(toy)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert_one_line_error(*run(toy, *argv), "unknown dataset 'nosuch' (datasets: toy)")
    assert snapshot(toy) == before


# -- pipes and progress ---------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["log", "toy"], ["suspects", "toy", "--top", "0"]])
def test_a_closed_pipe_ends_quietly(trained_ws, argv):
    """`ide log | head -1`: no BrokenPipeError traceback when the reader goes away."""
    proc = subprocess.Popen([sys.executable, "-m", "ide.cli", "-C", str(trained_ws.root),
                             *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the command writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == ""


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_retrain_progress_in_a_log_is_one_line_per_epoch(trained_ws, run):
    """stderr to a file: plain lines, one per epoch of each fold, with the time left."""
    staged.relabel(trained_ws, "toy", {"h/001.png": "v"})
    run(trained_ws, "commit", "toy", "-m", "One more")
    code, out, err = run(trained_ws, "retrain", "toy")
    assert code == 0 and "warm-started" in out
    assert "\r" not in err
    lines = err.splitlines()
    folds = versions.resolve(trained_ws, "toy").params.folds
    assert len(lines) == folds  # a warm start is one epoch per fold
    for line in lines:  # folds train two at a time: in any order, each once
        assert re.fullmatch(rf"fold \d+/{folds} epoch 1/1: +\d+% \[\d\d:\d\d<\d\d:\d\d, "
                            r"\d+ ex/s\]", line), line
    assert sorted(int(line.split()[1].split("/")[0]) for line in lines) == \
        list(range(1, folds + 1))
    assert lines[-1].split(": ")[1].startswith("100%")
    code, out, err = run(trained_ws, "retrain", "toy", "--json")
    assert code == 0 and err == "" and json.loads(out)["cached"]


def test_progress_draws_bars_on_a_terminal_and_lines_elsewhere():
    from ide.cli.progress import Progress

    def feed(bar):
        for k in (1, 2):
            for e in (1, 2, 3):
                for b in range(1, 5):
                    bar({"fold": k, "folds": 2, "epoch": e, "epochs": 3, "rate": 500.0,
                         "fraction": (k - 1 + ((e - 1) * 4 + b) / 12) / 2,
                         "fold_fraction": ((e - 1) * 4 + b) / 12})
        bar.say("checking every image in SRC")
        for n in range(1, 101):
            bar({"done": n, "total": 100, "fraction": n / 100})
        bar.close()

    log, tty = io.StringIO(), Terminal()
    feed(Progress(log))
    feed(Progress(tty))
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert [line.split(":")[0] for line in lines[:6]] == [
        f"fold {k}/2 epoch {e}/3" for k in (1, 2) for e in (1, 2, 3)]
    assert lines[6] == "checking every image in SRC ..."
    assert [line.split(": ")[1].split()[0] for line in lines[7:]] == [
        f"{p}%" for p in range(10, 101, 10)]
    assert len(lines) == 17
    drawn = tty.getvalue()
    assert "\r" in drawn and "fold 2/2 epoch 3/3: 100%|" in drawn
    assert "checking every image in SRC: 100%|" in drawn and "100/100" in drawn


def test_import_shows_progress_over_files_on_a_terminal(ws, run, tmp_path, monkeypatch):
    src = write_imagefolder(tmp_path / "src", per_class=4)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert run(ws, "import", "new", str(src))[0] == 0
    drawn = terminal.getvalue()
    assert f"checking every image in {src}: 100%|" in drawn and "12/12" in drawn
    assert "copying 12 images into datasets/new/images: 100%|" in drawn
    assert "tracking the images with DVC" in drawn
