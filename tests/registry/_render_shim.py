"""Stand-in for ``promptyard.core.render`` used ONLY until the templates area lands on main."""

from __future__ import annotations

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from promptyard.core.errors import TemplateSyntaxError
from promptyard.core.template import Variable

_env = SandboxedEnvironment(undefined=jinja2.StrictUndefined)


def check_template(t):
    names = set()
    for loc, text in t.sources():
        try:
            names |= meta.find_undeclared_variables(_env.parse(text))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateSyntaxError(
                exc.message or "syntax error", where=f"{loc} line {exc.lineno}, column 1"
            ) from None
    return list(t.variables) or [Variable(name=n) for n in sorted(names)]


class Rendered:
    def __init__(self, kind, text, messages=None):
        self.kind, self.text, self.messages, self.record = kind, text, messages, {}

    def to_json(self):
        return {"kind": self.kind, "text": self.text, "messages": self.messages, "record": self.record}


def render(t, variables, *, seed=None):
    texts = [(loc, _env.from_string(text).render(**variables)) for loc, text in t.sources()]
    if t.kind == "multi":
        msgs = [{"role": p.role, "content": txt} for p, (_, txt) in zip(t.parts, texts, strict=True)]
        return Rendered(t.kind, "\n".join(m["content"] for m in msgs), msgs)
    return Rendered(t.kind, "\n\n".join(txt for _, txt in texts))


def load_template_file(path):
    """Stand-in for ``promptyard.core.template_files.load_template_file``."""
    import json
    from pathlib import Path

    import yaml

    from promptyard.core.template import Template

    path = Path(path)
    if path.suffix in (".txt", ".j2"):
        return Template(kind="single", text=path.read_text()), {}
    data = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    meta = {k: data.pop(k) for k in ("name", "description", "task_type", "tags") if k in data}
    t = Template.from_dict(data, where=str(path))
    check_template(t)
    return t, meta
