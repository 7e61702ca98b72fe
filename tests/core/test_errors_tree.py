"""core.errors: every error codeswarm raises on purpose is a CodeswarmError, defined there once,
and drawn in the tree of the module's docstring and section comments."""

from __future__ import annotations

import inspect
import re

from codeswarm.core import errors


def test_every_exception_class_is_in_the_tree_and_drawn() -> None:
    source = inspect.getsource(errors)
    drawn = set(re.findall(r"[├└]── (\w+)", source))
    classes = {
        name
        for name, cls in vars(errors).items()
        if inspect.isclass(cls)
        and issubclass(cls, BaseException)
        and cls.__module__ == errors.__name__
    }
    assert classes <= drawn | {"CodeswarmError"}, sorted(classes - drawn)
    for name in classes:
        assert issubclass(getattr(errors, name), errors.CodeswarmError), name


def test_no_error_class_is_defined_outside_core_errors() -> None:
    import ast
    from pathlib import Path

    root = Path(errors.__file__).parent.parent
    elsewhere = []
    for path in root.rglob("*.py"):
        if path == Path(errors.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name | ast.Attribute)
                and ast.unparse(b).split(".")[-1].endswith(("Error", "Exception"))
                for b in node.bases
            ):
                elsewhere.append(f"{path.relative_to(root)}: {node.name}")
    assert elsewhere == []


def test_errors_raised_elsewhere_are_defined_here() -> None:
    from codeswarm.control.launch import slurm_jobs
    from codeswarm.mailbox import framing

    assert slurm_jobs.SlurmError is errors.SlurmError
    assert slurm_jobs.SlurmRejectedError is errors.SlurmRejectedError
    assert issubclass(errors.SlurmRejectedError, errors.UsageError)
    assert framing.SpillError is errors.SpillError
    assert issubclass(errors.MailboxNameError, errors.MailboxInputError)
    assert issubclass(errors.MailboxInputError, errors.UsageError)
