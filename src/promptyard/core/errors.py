"""Errors raised by promptyard's library code.

Library code raises these; only the CLI turns them into a one-line message and an exit code.
Each subclass also inherits the builtin a caller would already catch.
"""

from __future__ import annotations


class PromptyardError(Exception):
    """Base class for every error promptyard raises on purpose.

    ``where`` names the place (file:line:col, key, reference) when there is one; ``hint`` says what
    would be right.
    """

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class UsageError(PromptyardError, ValueError):
    """Bad arguments or options."""

    exit_code = 2


class ValidationError(PromptyardError, ValueError):
    """Input that does not have the expected shape (files, fields, hyper-parameters)."""


class TemplateSyntaxError(ValidationError):
    """A template that Jinja2 cannot parse; ``where`` holds line and column."""


class RenderError(PromptyardError, ValueError):
    """Rendering failed: missing, extra or wrongly typed variables, or a sandbox violation.

    ``problems`` lists every problem found, not only the first.
    """

    def __init__(self, message: str, *, problems: list[str] | None = None, **kw):
        self.problems = list(problems or [])
        if self.problems:
            message = message + ": " + "; ".join(self.problems)
        super().__init__(message, **kw)


class SandboxViolation(RenderError):
    """A template tried to reach something the sandbox forbids."""


class LimitExceeded(SandboxViolation):
    """A render (or a template at commit) went past one of the sandbox limits; ``limit`` names it."""

    def __init__(self, message: str, *, limit: str, **kw):
        self.limit = limit
        super().__init__(message, **kw)


class OutputParseError(ValidationError):
    """A model's reply did not contain valid JSON for the output schema."""


class UnknownRefError(PromptyardError, KeyError):
    """A reference (``name``, ``name@3``, ``name@production``, ``name@sha:1a2b``) that resolves to nothing."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return PromptyardError.__str__(self)


class AmbiguousRefError(UnknownRefError):
    """A hash prefix that matches more than one version."""


class RegistryError(PromptyardError, RuntimeError):
    """The registry refused an operation (protected label, archived prompt, conflict)."""


class IntegrityError(RegistryError):
    """Stored content does not match its recorded hash (tampered or corrupt)."""


class BundleError(ValidationError):
    """An export bundle that is corrupt or whose hashes do not match."""


class AuthError(PromptyardError, PermissionError):
    """A request to ``promptyard serve`` without a valid token (missing, unknown or revoked)."""


class ForbiddenError(PromptyardError, PermissionError):
    """A valid token whose scope does not allow the operation (read writing, write moving a protected label)."""


class TooLargeError(ValidationError):
    """A request over the server's limits (body size); rendered output and render time are RenderErrors."""


class ServerUnreachable(PromptyardError, ConnectionError):
    """The registry server could not be reached and no cached or fallback copy could stand in."""


class PluginError(PromptyardError, RuntimeError):
    """A plugin failed to load or register, or two plugins claimed the same name."""


class UnknownNameError(PromptyardError, KeyError):
    """A task type, tuning method, metric, selector, model or data set name that no plugin registered."""

    def __str__(self) -> str:
        return PromptyardError.__str__(self)


class OfflineError(PromptyardError, ConnectionError):
    """Something needs the network (a hub id) while offline mode is on."""


class DataError(ValidationError):
    """A malformed data file; ``where`` names file, line and column."""


class TuningError(PromptyardError, RuntimeError):
    """Training could not run (method does not support the task, invalid hyper-parameters)."""


class EvalError(PromptyardError, RuntimeError):
    """An evaluation could not run or a suite file is invalid."""


class TemplateMismatchError(PromptyardError, RuntimeError):
    """``--strict-template``: an adapter given text in another format (prompt version, chat template) than the
    one it was trained on."""


class GateFailed(PromptyardError):
    """``eval gate``: the candidate is worse than the baseline beyond the threshold."""

    exit_code = 3
