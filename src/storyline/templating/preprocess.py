"""Rewrite Tines' Liquid dialect into standard Liquid before parsing.

Tines writes event paths with a leading dot (``{{.action.field}}``, ``{% if .x.y %}``,
``| where: "k", .other.value``); the dot means "the event root", which is exactly where
Liquid looks up a bare name, so the dot is replaced by a space. Replacing (not deleting)
keeps every character at its original offset, so syntax errors point at the right line
and column of the author's text.

Also tolerated, because real exports rely on Ruby Liquid's lax parser:

* non-breaking spaces inside markup (pasted from rich text) count as spaces;
* a filter argument written without its colon (``| regex_replace '\\n', ''``).

String literals, ``{% raw %}`` and ``{% comment %}`` blocks and the custom widget tags
(whose arguments are plain text) are left alone.
"""

from __future__ import annotations

import re

_MARKUP = re.compile(
    r"\{\{(?P<out>.*?)\}\}"
    r"|\{%-?\s*(?P<name>#|\w+)(?P<expr>.*?)%\}",
    re.DOTALL,
)
_STRING = re.compile(r"'[^']*'|\"[^\"]*\"", re.DOTALL)
_PATH_START = re.compile(r"(?<=[\s(\[,:|=<>!])\.(?=[A-Za-z_])")
_LEADING_DOT = re.compile(r"-?(\.)(?=[A-Za-z_])")  # also after "{{-"
_FILTER_NO_COLON = re.compile(r"\|\s*\w+(\s+)$")

_SKIP_BLOCKS = {"raw": "endraw", "comment": "endcomment"}


def _rewrite_code(code: str, *, at_start: bool, followed_by_string: bool) -> str:
    code = code.replace("\xa0", " ")
    code = _PATH_START.sub(" ", code)
    lead = _LEADING_DOT.match(code) if at_start else None
    if lead:
        code = code[: lead.start(1)] + " " + code[lead.end(1) :]
    if followed_by_string:
        m = _FILTER_NO_COLON.search(code)
        if m:
            code = code[: m.start(1)] + ":" + code[m.start(1) + 1 :]
    return code


def rewrite_expression(expr: str) -> str:
    """Rewrite one tag or output expression; the result has the same length."""
    if "." not in expr and "\xa0" not in expr and "|" not in expr:
        return expr
    out: list[str] = []
    pos = 0
    for m in _STRING.finditer(expr):
        out.append(_rewrite_code(expr[pos : m.start()], at_start=pos == 0, followed_by_string=True))
        out.append(m.group())
        pos = m.end()
    out.append(_rewrite_code(expr[pos:], at_start=pos == 0, followed_by_string=False))
    return "".join(out)


def rewrite(source: str, widget_tags: frozenset[str] = frozenset()) -> str:
    """Return ``source`` as standard Liquid; offsets of all characters are unchanged."""
    parts: list[str] = []
    pos = 0
    skip_until: str | None = None
    for m in _MARKUP.finditer(source):
        name = m.group("name")
        if skip_until is not None:
            if name == skip_until:
                skip_until = None
            continue
        if name is not None:
            if name in _SKIP_BLOCKS:
                skip_until = _SKIP_BLOCKS[name]
                continue
            if name in widget_tags or name == "#":
                continue
            group = "expr"
        else:
            group = "out"
        start, end = m.span(group)
        new = rewrite_expression(source[start:end])
        if new != source[start:end]:
            parts.append(source[pos:start])
            parts.append(new)
            pos = end
    if not parts:
        return source
    parts.append(source[pos:])
    return "".join(parts)
