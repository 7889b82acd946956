"""The layout rule on module size (CONTRIBUTING.md): a module of teambot above about 250 lines
says at its top why it is one module ("Why one module ..." in its docstring), so a long file is a
decision someone wrote down, not drift."""

import ast
from pathlib import Path

import teambot

LIMIT = 250
PACKAGE = Path(teambot.__file__).parent


def test_every_long_module_says_why_it_is_one_module():
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        if source.count("\n") <= LIMIT:
            continue
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if "Why one module" not in docstring:
            unexplained.append(f"{path.relative_to(PACKAGE)} ({source.count(chr(10))} lines)")
    assert not unexplained, f"over {LIMIT} lines without 'Why one module' at the top: {unexplained}"


def test_the_check_sees_the_package():
    assert len(list(PACKAGE.rglob("*.py"))) > 40  # a wrong path would pass the test above vacuously
