# The README's commands, run exactly as written: every fenced block marked "sh tested", in
# order, line by line in one bash session, in a fresh copy of the repository (the files git
# tracks or would track, nothing built, no config.json). A line ending in "# exits N" must end
# with that status, every other line with 0, and no line may print a Python traceback.
#
# The copy shares this checkout's .venv (a symlink): `make setup` then finds it up to date, as
# it does on a machine where `make test` has just set it up.
import os
import re
import shlex
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
_EXITS = re.compile(r"#\s*exits (\d+)\b")


def marked_commands(text):
    """(line number, command, expected status) for each command of the marked blocks."""
    out, inside = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            inside = line.strip() == "```sh tested" if not inside else False
            continue
        if inside and line.strip() and not line.lstrip().startswith("#"):
            m = _EXITS.search(line)
            out.append((n, line.strip(), int(m.group(1)) if m else 0))
    return out


def fresh_copy(dst):
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src) or rel == "config.json" or rel.endswith("/config.json"):
            continue
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel))  # mtimes kept: make sees .venv up to date
    os.symlink(os.path.join(ROOT, ".venv"), os.path.join(dst, ".venv"))


def script(lines):
    parts = ["cd %s" % shlex.quote(os.getcwd())]
    for n, cmd, want in lines:
        parts.append("echo %s" % shlex.quote("@@ README:%d $ %s" % (n, cmd)))
        parts.append(cmd)
        parts.append('rc=$?; echo "@@ status $rc"; [ "$rc" = %d ] || exit 100' % want)
    return "\n".join(parts) + "\n"


def test_marked_blocks_exist():
    lines = marked_commands(open(README).read())
    cmds = " ".join(c for _, c, _ in lines)
    for needed in ("make demo", "make setup", "activate", "onboard", "status"):
        assert needed in cmds, "README has no tested command with %r" % needed


@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, ".venv", "bin", "micropython")),
                    reason="needs the .venv `make setup` creates")
def test_readme_commands_run_as_written(tmp_path, monkeypatch):
    lines = marked_commands(open(README).read())
    repo = tmp_path / "picoclaw"
    fresh_copy(str(repo))
    # the shared references (the Bot API spec, recorded wire data) sit beside the checkout
    os.symlink(os.path.join(os.path.dirname(ROOT), "shared"), str(tmp_path / "shared"))
    monkeypatch.chdir(repo)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MICROPYPATH", "SIMULATE")}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)
    p = subprocess.run(["bash", "--noprofile", "--norc"], input=script(lines), capture_output=True,
                       text=True, env=env, timeout=600)
    out = p.stdout + p.stderr
    # the figures for the note: each command and its status
    results = re.findall(r"@@ (README:\d+ \$ .*)\n(?:.*\n)*?@@ status (\d+)", p.stdout)
    for cmd, rc in results:
        print("%s  -> exit %s" % (cmd, rc))
    assert p.returncode == 0, "a README command failed:\n" + out[-4000:]
    assert len(results) == len(lines)
    assert "Traceback" not in out, out[-4000:]
    # what the commands were for
    assert (repo / "config.json").exists() and (repo / "workspace" / "USER.md").exists()
