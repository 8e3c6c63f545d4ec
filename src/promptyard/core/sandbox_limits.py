"""The limits of the sandbox (one configuration object) and the per-render budget that enforces them.

One-line templates can burn memory or CPU without touching anything unsafe (``'x' * 10**9``,
``([s] * 250)|join``, nested loops over a long string, a macro that calls itself twice). Every operation
of :class:`promptyard.core.sandbox.PromptSandbox` that builds a string or a list asks the render's
:class:`Budget` for the size it is *about* to build (:meth:`Budget.reserve`) before it builds it; loops,
calls and filters are counted; every count and every reservation also checks the wall-clock deadline.
The same :class:`SandboxLimits` object is what the CLI, the library and the HTTP service enforce.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from promptyard.core.errors import LimitExceeded, SandboxViolation, ValidationError

#: the environment variable that overrides limits, e.g. ``deadline_s=2,max_template_chars=200000``
LIMITS_ENV = "PROMPTYARD_SANDBOX_LIMITS"
HINT = f"the sandbox limits are listed in docs/templates.md; {LIMITS_ENV} changes them"


@dataclass(frozen=True)
class SandboxLimits:
    """How much one template may be, and build or run in one render."""

    deadline_s: float = field(default=5.0, metadata={
        "help": "wall-clock seconds one render may take (checked at every loop step, call and allocation)"})
    max_template_chars: int = field(default=1_000_000, metadata={
        "help": "characters of all Jinja sources of one template (checked at commit, import and render)"})
    max_template_tokens: int = field(default=10_000, metadata={
        "help": "Jinja tokens (names, operators, tag marks; not the text between tags) of one template's sources: "
                "compiling takes about 0.1 ms per token"})
    max_text: int = field(default=10_000_000, metadata={
        "help": "longest text or list one operation may build, and longest rendered text"})
    max_built: int = field(default=50_000_000, metadata={
        "help": "characters and list items one render may build in all (every join, '~', '+', filter, output)"})
    max_repeat: int = field(default=100_000, metadata={
        "help": "longest result of '*' on a string or list; widest padding or format width; most lipsum words"})
    max_range: int = field(default=10_000, metadata={"help": "items one range() may have"})
    max_range_total: int = field(default=100_000, metadata={"help": "items all range() calls of one render may have"})
    max_loop_iterations: int = field(default=1_000_000, metadata={
        "help": "{% for %} steps of one render, recursive loops included, and items walked by filters "
                "(sort, unique, map, title, wordwrap …) and by sizing a value"})
    max_calls: int = field(default=100_000, metadata={
        "help": "calls of one render: functions, methods, macros, filters"})
    max_call_depth: int = field(default=100, metadata={"help": "nesting of macro calls and recursive loop(...)"})
    max_int_bits: int = field(default=4096, metadata={"help": "largest integer '**' and '*' may build, in bits"})
    max_indent: int = field(default=100, metadata={"help": "widest tojson indent (it is repeated on every line)"})

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 \
                    or (f.type == "int" and not isinstance(value, int)):
                raise ValidationError(f"must be a positive {'number' if f.type == 'float' else 'whole number'}, "
                                      f"got {value!r:.40}", where=f"sandbox limit {f.name}")

    @classmethod
    def from_text(cls, text: str, *, base: SandboxLimits | None = None, where: str = LIMITS_ENV) -> SandboxLimits:
        """``base`` (the defaults) with ``name=value,name=value`` applied; unknown names are refused."""
        known = {f.name: f for f in fields(cls)}
        changes: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = (s.strip() for s in item.partition("="))
            if not sep or name not in known:
                raise ValidationError(f"expected name=value with a known limit name, got {item!r:.60}", where=where,
                                      hint=f"known limits: {', '.join(known)}")
            try:
                changes[name] = float(value) if known[name].type == "float" else int(value.replace("_", ""))
            except ValueError:
                raise ValidationError(f"{name}: not a number: {value!r:.40}", where=where) from None
        return replace(base or cls(), **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEFAULT_LIMITS = SandboxLimits()
_configured: SandboxLimits | None = None


def configure(limits: SandboxLimits | None) -> None:
    """Set the process-wide limits (None: back to the defaults and the environment variable)."""
    global _configured
    _configured = limits


def current_limits(environ: Mapping[str, str] = os.environ) -> SandboxLimits:
    """The limits a render uses when it is given none: :func:`configure`'d, else the defaults + env var."""
    global _configured
    if _configured is None:
        text = environ.get(LIMITS_ENV, "")
        _configured = SandboxLimits.from_text(text) if text.strip() else DEFAULT_LIMITS
    return _configured


def limit_error(limit: str, message: str, where: str | None = None) -> LimitExceeded:
    """The one-line error of a limit: what would have happened, and the limit's name and value."""
    value = getattr(current_limits(), limit, None)
    budget = _budget.get()
    if budget is not None:
        value = getattr(budget.limits, limit)
    return LimitExceeded(f"sandbox limit {limit}={value} exceeded: {message}", limit=limit, where=where, hint=HINT)


def violation(message: str, where: str | None = None) -> SandboxViolation:
    return SandboxViolation(f"sandbox violation: {message}", where=where,
                            hint="templates may only use their variables, filters and globals")


class Budget:
    """What is left to one render: counts, characters and the deadline."""

    __slots__ = ("built", "calls", "deadline", "depth", "limits", "loops", "output", "ranges", "shapes")

    def __init__(self, limits: SandboxLimits):
        self.limits = limits
        self.ranges = limits.max_range_total
        self.loops = limits.max_loop_iterations
        self.calls = limits.max_calls
        self.built = limits.max_built
        self.output = limits.max_text
        self.depth = 0
        self.shapes: dict[int, tuple[Any, int]] = {}  # expanded sizes of containers seen (text_size.expanded_size)
        self.deadline = time.monotonic() + limits.deadline_s

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise limit_error("deadline_s", "the render was still running at the deadline")

    # the clock is read every 16th loop step or call (each one is bounded by the other limits) and for
    # every allocation of 64K or more: reading it on every step was a measurable part of a small render

    def loop(self) -> None:
        self.loops -= 1
        if self.loops < 0:
            raise limit_error("max_loop_iterations", "too many loop iterations")
        if not self.loops & 15 and time.monotonic() > self.deadline:
            self.check_time()

    def steps(self, what: str, n: int) -> None:
        """``n`` items walked by Python code in one step (a sort, a filter over a list, sizing a value)."""
        self.loops -= n
        if self.loops < 0:
            raise limit_error("max_loop_iterations", f"{what} would walk {n} items past the limit")
        if time.monotonic() > self.deadline:
            self.check_time()

    def call(self) -> None:
        self.calls -= 1
        if self.calls < 0:
            raise limit_error("max_calls", "too many calls of functions, methods, macros or filters")
        if not self.calls & 15 and time.monotonic() > self.deadline:
            self.check_time()

    def reserve(self, what: str, size: int) -> None:
        """Account for ``size`` characters or items about to be built by ``what``; refuse past a limit."""
        if size > self.limits.max_text:
            raise limit_error("max_text", f"{what} would build {size} characters or list items")
        self.built -= size
        if self.built < 0:
            raise limit_error("max_built", f"{what} would take the text and lists built by this render "
                                           f"past the limit")
        if size >= 65536 and time.monotonic() > self.deadline:
            self.check_time()

    def emit(self, size: int) -> None:
        """Account for ``size`` characters of rendered text, as it streams out."""
        self.output -= size
        if self.output < 0:
            raise limit_error("max_text", "the rendered text would be longer than the limit")
        self.reserve("the rendered text", size)


_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("promptyard_budget", default=None)


#: the running render's budget (None outside a render: compile-time constant folding); a C call, it is hot
budget = _budget.get


def start_budget(limits: SandboxLimits | None = None) -> contextvars.Token:
    """Start a render's budget; pass the token to :func:`end_budget`."""
    return _budget.set(Budget(limits or _configured or current_limits()))


#: end the budget :func:`start_budget` started (a C call)
end_budget = _budget.reset


def reserve(what: str, size: int) -> None:
    """:meth:`Budget.reserve` on the running render; outside one, only the single-value limit applies."""
    b = _budget.get()
    if b is not None:
        b.reserve(what, size)
    elif size > current_limits().max_text:
        raise limit_error("max_text", f"{what} would build {size} characters or list items")


def steps(what: str, n: int) -> None:
    """:meth:`Budget.steps` on the running render (nothing outside one)."""
    b = _budget.get()
    if b is not None:
        b.steps(what, n)


def count_call() -> None:
    b = _budget.get()
    if b is not None:
        b.call()


_END = object()


def take_output(pieces: Iterable[str]) -> list[str]:
    """The pieces of one source's rendered text, charged to the running render's budget as they stream.

    Every piece already exists (built under the budget, or template text), so what grows is the list of
    pieces (at most as many as the budget has characters left: each piece counts one more than its length)
    and then the final join, reserved before it is built. islice and sum keep this at C speed on every
    render's hot path. Both the Jinja path and the plain-template path run this.
    """
    b = _budget.get()
    if b is None:
        return list(pieces)
    gen, cap = iter(pieces), min(b.output, b.built)
    parts = list(itertools.islice(gen, cap))
    total = sum(map(len, parts)) + len(parts)
    if len(parts) == cap and next(gen, _END) is not _END:
        total = cap + 1
    if total > b.output or total > b.built:
        b.emit(total)  # raises, naming the limit
    b.output -= total
    b.built -= total
    return parts


def limits() -> SandboxLimits:
    b = _budget.get()
    return b.limits if b is not None else current_limits()


def check_repeat(what: str, size: int) -> None:
    """A width or repeat count: at most max_repeat, then reserved."""
    if size > limits().max_repeat:
        raise limit_error("max_repeat", f"{what} would build {size} characters or items")
    reserve(what, size)


class BudgetedLoop:
    """What a ``{% for %}`` iterates: the iterable, counting every step against the render's budget."""

    __slots__ = ("iterable",)

    def __init__(self, iterable: Any):
        self.iterable = iterable

    def __len__(self) -> int:  # loop.length and friends
        return len(self.iterable)

    def __iter__(self) -> Iterator[Any]:
        b = _budget.get()
        if b is None:
            yield from self.iterable
            return
        for item in self.iterable:
            b.loop()
            yield item


class TextBuffer(list):
    """The buffer of a macro, call block, ``{% set %}`` block or recursive loop: charged as it grows."""

    __slots__ = ()

    def append(self, text: str) -> None:
        reserve("a macro or block", len(text))
        super().append(text)

    def extend(self, texts: Any) -> None:
        texts = tuple(texts)
        reserve("a macro or block", sum(map(len, texts)))
        super().extend(texts)


def bounded_range(*args: int) -> range:
    """``range`` for templates: at most max_range items per call and max_range_total per render."""
    rng = range(*args)
    lim = limits()
    if len(rng) > lim.max_range:
        raise limit_error("max_range", f"range of {len(rng)} items is larger than the limit")
    b = _budget.get()
    if b is not None:
        b.ranges -= len(rng)
        if b.ranges < 0:
            raise limit_error("max_range_total", "ranges in one render would build too many items")
    return rng


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    """``lipsum`` for templates: at most max_repeat words (``lipsum(10**6)`` takes minutes and 400 MB)."""
    from jinja2.utils import generate_lorem_ipsum

    words = (n if isinstance(n, int) else 0) * (min if min > max else max)
    if words > limits().max_repeat:
        raise limit_error("max_repeat", f"lipsum({n}, min={min}, max={max}) could build {words} words")
    reserve("lipsum", words * 12)  # the longest lorem-ipsum word is 11 letters, plus a space
    return generate_lorem_ipsum(n, html, min, max)


__all__ = ["DEFAULT_LIMITS", "HINT", "LIMITS_ENV", "Budget", "BudgetedLoop", "SandboxLimits", "TextBuffer",
           "bounded_lipsum", "bounded_range", "budget", "check_repeat", "configure", "count_call",
           "current_limits", "end_budget", "limit_error", "limits", "reserve", "start_budget", "steps", "take_output",
           "violation"]
