"""The README's "Try it" line, run as a new user runs it: in a fresh clone of this repository,
from its root, with a fresh HOME (a git name and email only), in a new virtualenv whose
`--system-site-packages` already hold torch (pip may reach the package registry, as a
user's does). `ide demo` trains, then serves until stopped: the served page must answer,
and a SIGTERM must stop it all.
"""

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Building, training 1,797 digits on 2 busy cores and starting the app: minutes at worst.
DEADLINE = 900


def try_it_line() -> str:
    """The one command of the README's "Try it" section, as written there."""
    section = ROOT.joinpath("README.md").read_text().split("## Try it", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)[1].strip()
    assert "\n" not in block and block.endswith("ide demo"), block
    return block


def _registry_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


def _absent(what: str) -> None:
    # On CI both must be there: a skip would hide that the README's line is never run.
    if os.environ.get("CI"):
        pytest.fail(f"{what} is absent on CI")
    pytest.skip(f"{what} is absent")


def _fetch(url: str, wait: float = 60) -> int:
    """The status of URL, following the gate's redirect with its cookie; tried again for
    WAIT seconds while the port refuses or the app answers that it is starting (the URL is
    printed as the server starts, not once it answers)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    deadline = time.monotonic() + wait
    while True:
        try:
            with opener.open(url, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or time.monotonic() > deadline:
                return exc.code
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


@pytest.mark.readme
def test_readme_try_it_line_builds_trains_and_serves_the_demo(tmp_path):
    if not shutil.which("git"):
        _absent("git")
    if not _registry_reachable():
        _absent("the network to the package registry")
    line = try_it_line()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = New User\n\temail = new@localhost\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL")}
    env["HOME"] = str(home)
    clone = tmp_path / "dataset-ide"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, env=env)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")

    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(["bash", "-c", line], cwd=clone, env=env, stderr=err,
                                stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        url, said = None, ""
        deadline = time.monotonic() + DEADLINE
        while url is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(2)
            said = log.read_text(errors="replace")
            found = re.search(r"ide: serving .* at (http://\S+\?token=\S+)", said)
            url = found and found[1]
        assert url, f"no URL printed (exit code {proc.poll()}):\n{said[-3000:]}"
        # Where the workspace is: said, and the demo built it outside the clone.
        assert f"demo workspace {home / 'ide-demo'}" in said
        assert (home / "ide-demo" / ".git").is_dir() and not (clone / "ide-demo").exists()
        assert "out-of-fold accuracy" in said
        assert _fetch(url) == 200
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]
    time.sleep(1)
    left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True)
    assert not left.stdout.strip(), "processes left running after SIGTERM"


def test_demo_refuses_a_folder_inside_another_repository(ws, run):
    """Inside a repository (the clone of ide, say) the demo would be a nested workspace
    whose commits land in that repository: refused in one line, nothing made."""
    inside = ws.root / "ide-demo"
    code, out, err = run(None, "demo", str(inside), "--no-serve")
    assert code == 1 and err.count("\n") == 1, err
    assert f"is inside the git repository {ws.root}" in err and "ide demo" in err
    assert not inside.exists()


def test_a_failing_dvc_command_says_dvc_s_reason(tmp_path):
    """DVC's own reason, not an exit code: here, a parent .gitignore hiding the folder."""
    from ide.errors import IDEError
    from ide.repo import commits

    commits.init(tmp_path)
    (tmp_path / ".gitignore").write_text("/sub/\n")
    with pytest.raises(IDEError, match=r"dvc init failed: .*is ignored by your SCM tool"):
        commits.init(tmp_path / "sub")
