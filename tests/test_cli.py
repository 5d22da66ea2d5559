"""The CLI maps onto the API, and every bad input is one line, exit 1, nothing changed."""

import json
import os

import pytest

from ide import cli, staged, store

from conftest import write_imagefolder


def snapshot(ws):
    """What a failed command must leave as it was."""
    files = sorted(str(p.relative_to(ws.root)) for p in ws.root.rglob("*")
                   if ".git" not in p.parts and ".ide" not in p.parts and ".dvc" not in p.parts)
    stage = {n: staged.read(ws, n) for n in store.datasets(ws)}
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
    assert len(store.labels(ws, "new")) == 9


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
