"""What is wrong with a config, said so that a person can fix it: each problem with its key
path, line, message and hint, and the error that carries all of them at once.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigProblem", "KeyPath", "format_path"]

#: A key path in the YAML: mapping keys and list indexes.
KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config, said so that a person can fix it."""

    path: str
    message: str
    hint: str = ""
    line: int | None = None

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        text = f"{where}: {self.path or '(top level)'}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class ConfigError(Exception):
    """The config cannot be used; `problems` lists every reason found."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problem.render(source) for problem in problems))


def format_path(path: KeyPath) -> str:
    """A key path as a person writes it: `destinations.meta.access_token`, `audiences[2]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
