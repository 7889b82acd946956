"""The function's table of settings (teambot.core.settings.SETTINGS) is complete, infra/config.py
links to it, and docs/configure.md's generated tables are what the tables say."""

import ast
import re
from pathlib import Path

import yaml

from infra import config, configure_doc
from teambot.core import settings

REPO = Path(__file__).resolve().parents[2]
FUNCTION = REPO / "function" / "teambot"
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")


def _env_reads(tree: ast.AST) -> set[str]:
    """String literals that look like variable names, read as env.get("X") / get("X") /
    os.getenv("X") / environ["X"] / os.environ.setdefault("X")."""
    names = set()
    for node in ast.walk(tree):
        arg = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in ("get", "getenv", "setdefault", "pop"):
                arg = node.args[0]
        elif isinstance(node, ast.Subscript):
            target = node.value
            if (isinstance(target, ast.Attribute) and target.attr == "environ") or getattr(target, "id", None) in (
                "environ",
                "env",
            ):
                arg = node.slice
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and ENV_NAME.match(arg.value):
            names.add(arg.value)
    return names


def test_every_variable_the_function_reads_is_in_the_table():
    read = {}
    for path in FUNCTION.rglob("*.py"):
        for name in _env_reads(ast.parse(path.read_text(), str(path))):
            read.setdefault(name, str(path.relative_to(REPO)))
    assert read, "the scan found no environment reads at all"
    missing = {name: where for name, where in read.items() if name not in settings.SETTINGS_BY_NAME}
    assert not missing, f"add these to teambot.core.settings.SETTINGS (and `make docs`): {missing}"


def test_the_scan_sees_each_kind_of_read():
    code = 'os.environ.get("A_B")\nos.getenv("C_D")\nos.environ["E_F"]\nget("G_H")\nenv.get("lower")\nevent.get("type")'
    assert _env_reads(ast.parse(code)) == {"A_B", "C_D", "E_F", "G_H"}


def test_secret_and_required_variables_are_in_the_table():
    names = {*settings.SECRET_VARS, *settings.OPTIONAL_SECRET_VARS, *(n for v in settings.REQUIRED_VARS.values() for n in v)}
    assert names <= set(settings.SETTINGS_BY_NAME)


def test_the_table_is_the_parsers_source_and_has_no_duplicates():
    names = [name for setting in settings.SETTINGS for name in setting.names]
    assert len(names) == len(set(names))
    assert settings.SETTING_PARSERS == {s.name: s.parser for s in settings.SETTINGS if s.parser}
    assert all(s.default.strip() and s.meaning.strip() for s in settings.SETTINGS)


def test_every_pulumi_key_env_is_a_row_and_has_a_description():
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    for key in config.KEYS:
        assert not key.env or key.env in settings.SETTINGS_BY_NAME, key.name
        assert declared[key.name]["description"].strip(), key.name


def test_configure_md_is_generated_from_the_tables():
    text = configure_doc.DOC.read_text()
    assert configure_doc.render(text) == text, "docs/configure.md is stale: run `make docs`"
    for setting in settings.SETTINGS:
        assert f"| `{setting.name}`" in text
    for key in config.KEYS:
        assert f"| `{key.name}` |" in text


def test_render_leaves_hand_written_text_and_refuses_missing_markers():
    page = f"intro\n{configure_doc.BEGIN}\nold\n{configure_doc.END}\nmiddle\n{configure_doc.BEGIN}\n{configure_doc.END}\nend\n"
    out = configure_doc.render(page)
    assert out.startswith("intro\n") and "\nmiddle\n" in out and out.endswith("end\n") and "\nold\n" not in out
    try:
        configure_doc.render("no markers")
    except ValueError as exc:
        assert "markers" in str(exc)
    else:
        raise AssertionError("render accepted a page without markers")


def test_from_env_refuses_to_read_a_variable_outside_the_table(monkeypatch):
    monkeypatch.setattr(settings, "SETTINGS_BY_NAME", {})
    try:
        settings.Settings.from_env({})
    except LookupError as exc:
        assert "SETTINGS" in str(exc)
    else:
        raise AssertionError("from_env read a variable missing from the table")
