"""What a command names: the project it works on, and lesson modules by name or by folder.

One resolver for every command that takes a module, so `txt2img-basics` and
`workflows/txt2img-basics` mean the same lesson everywhere, and a wrong name gets the same
plain message listing the modules there are.
"""

from __future__ import annotations

import os
from pathlib import Path

from atelier.lessons.modules import WORKFLOWS, Module, is_module, load_module, module_folders
from atelier.messages import AtelierError
from atelier.project import Project, find


def project() -> Project:
    """The project this command works on: the command line is the one place that looks for it."""
    return find(Path.cwd(), os.environ.get("ATELIER_PROJECT"))


def module_folder(name: str | Path, root: Path | None = None) -> Path:
    """A lesson module by folder path or by name (slug).

    A name is looked for in the job's own workflows/ (the OOD app ships its lessons in every
    session's folder), then in `root` (default: the project's workflows/).
    """
    given = Path(name)
    if is_module(given):
        return given
    slug = len(given.parts) == 1 and given.name not in ("", ".", "..")
    if slug and root is None and is_module(WORKFLOWS / given):
        return WORKFLOWS / given
    folder = root or project().workflows
    if slug and is_module(folder / given):
        return folder / given
    known = ", ".join(path.name for path in module_folders([folder])) or "none"
    raise AtelierError("module-unknown", name=name, folder=folder, known=known)


def lesson_path(name: str) -> Path:
    """For run and sweep: a workflow .json file as given, else a lesson module by name or folder."""
    return Path(name) if name.endswith(".json") else module_folder(name)


def pick_modules(names: tuple[str, ...]) -> list[Module]:
    """The modules a repeatable --module names; all of the project's without one."""
    if not names:
        return project().modules
    return [load_module(module_folder(name)) for name in names]
