"""One exception family for every user-facing failure.

Data errors also subclass ``ValueError`` so callers that catch the standard
exception keep working. A data error renders each problem on its own line as
``path:line: $.field: message``.
"""

from __future__ import annotations

from dataclasses import dataclass


class PipelineError(Exception):
    """Base of every error the CLI reports without a traceback (exit 1)."""


@dataclass(frozen=True)
class Problem:
    """One problem in one place of an input file."""

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class DataError(PipelineError, ValueError):
    """Invalid input data: records, exports, params or the label schema.

    Holds every problem found (readers collect them, capped) so the user can fix
    a file in one pass.
    """

    def __init__(self, problems: list[Problem], *, truncated: bool = False):
        self.problems = list(problems)
        self.truncated = truncated
        lines = [str(p) for p in self.problems]
        if truncated:
            lines.append(f"... more errors not shown (stopped after {len(self.problems)})")
        super().__init__("\n".join(lines))

    @classmethod
    def single(cls, path: str, line: int | None, field: str, message: str) -> DataError:
        return cls([Problem(path, line, field, message)])

    def __reduce__(self):
        # Raised in a Dask worker, it travels pickled: rebuilt from its problems (and a subclass's
        # attributes), not from its message, whatever the subclass's own arguments are.
        return _rebuild_data_error, (type(self), self.problems, self.truncated, dict(self.__dict__))


def _rebuild_data_error(cls: type[DataError], problems: list[Problem], truncated: bool, state: dict) -> DataError:
    error = cls.__new__(cls)
    DataError.__init__(error, problems, truncated=truncated)
    error.__dict__.update(state)
    return error


class ConfigError(DataError):
    """params.yaml or the label schema is invalid."""


class ProjectError(PipelineError):
    """The project layout is wrong: not a project, already a project, a missing file."""


class MissingExtraError(PipelineError, ImportError):
    """An optional dependency is not installed."""


class GateFailed(PipelineError):
    """A quality gate did not pass (the CLI exits 3)."""


def require(module: str, extra: str):
    """Import an optional dependency or raise an error naming the extra to install.

    >>> require("json", "dev").__name__
    'json'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed; install it with: pip install 'data-labeling-pipeline[{extra}]'"
        ) from exc
