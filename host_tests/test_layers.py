"""The package tree is the architecture (docs/architecture.md): a module imports only from
its own layer or the layers below it, and only main.py reaches the board. Imports are read
from the source: import statements, and the dotted names given to picoclaw.load(), which
imports a module for one use."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
PACKAGE = os.path.join(FIRMWARE, "picoclaw")

# lowest first; a module's layer is its longest matching prefix
LAYERS = (
    ("basics", ("picoclaw", "picoclaw.log", "picoclaw.clock", "picoclaw.zone", "picoclaw.state",
                "picoclaw.scrub", "picoclaw.crash")),
    ("json", ("picoclaw.json",)),
    ("net", ("picoclaw.net",)),
    ("telegram", ("picoclaw.telegram",)),
    ("llm", ("picoclaw.llm",)),  # edits the Telegram placeholder while an answer streams
    ("agent", ("picoclaw.agent", "picoclaw.tools")),  # the tools use the agent's stores
    ("gateway", ("picoclaw.gateway",)),
    ("wiring", ("picoclaw.app", "picoclaw.config", "picoclaw.cli", "picoclaw.__main__",
                "picoclaw.cmd")),
    ("portal", ("picoclaw.portal",)),  # setup mode: loaded by board/ only while it runs
    ("board", ("picoclaw.board",)),
)


def _layer(name):
    best, level = "", None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and len(p) > len(best):
                best, level = p, i
    return level


def _module_name(path):
    rel = os.path.relpath(path, FIRMWARE)[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def _imports(path):
    """The picoclaw modules a file imports: statements, and load("...") calls."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            for a in node.names:  # `from picoclaw.llm import call` imports picoclaw.llm.call
                out.add(node.module + "." + a.name)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "load" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.add(arg.value)
    known = {_module_name(p) for p in _sources()}
    # `from picoclaw import log`: the module picoclaw.log; `from picoclaw import load`: the package
    return {n if n in known else n.rsplit(".", 1)[0] for n in out if n.startswith("picoclaw")}


def _sources():
    for d, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(d, name)


def test_every_module_has_a_layer():
    assert [m for m in map(_module_name, _sources()) if _layer(m) is None] == []


@pytest.mark.parametrize("path", sorted(_sources()), ids=lambda p: _module_name(p))
def test_no_module_imports_a_layer_above_its_own(path):
    me = _module_name(path)
    mine = _layer(me)
    up = sorted("%s (%s)" % (n, LAYERS[_layer(n)][0]) for n in _imports(path)
                if _layer(n) is not None and _layer(n) > mine)
    assert up == [], "%s (%s layer) imports from above it" % (me, LAYERS[mine][0])


def test_only_main_py_reaches_the_board():
    users = set()
    for path in _sources():
        me = _module_name(path)
        if not me.startswith("picoclaw.board") and any(n.startswith("picoclaw.board") for n in _imports(path)):
            users.add(me)
    assert users == set()
    main = _imports(os.path.join(FIRMWARE, "main.py"))
    assert "picoclaw.board.start" in main


def test_the_check_sees_an_upward_import(tmp_path):
    # the check itself can fail: a json module that imports the agent is caught
    bad = tmp_path / "bad.py"
    bad.write_text("from picoclaw.agent.session import Session\nx = load('picoclaw.gateway.loop')\n")
    assert {"picoclaw.agent.session", "picoclaw.gateway.loop"} <= _imports(str(bad))
    assert _layer("picoclaw.agent.session") > _layer("picoclaw.json.stream")
