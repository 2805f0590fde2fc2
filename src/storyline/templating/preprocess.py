"""Rewrite Tines' Liquid dialect into standard Liquid before parsing.

Tines writes event paths with a leading dot (``{{.action.field}}``, ``{% if .x.y %}``,
``| where: "k", .other.value``); the dot means "the event root", which is exactly where
Liquid looks up a bare name, so the dot is replaced by a space. Replacing rather than
deleting keeps every character at its original offset, so syntax errors point at the
author's line and column.

Tines parses Liquid with Ruby Liquid's lax parser, and published stories rely on it.
These are tolerated too (each seen in a real export):

* non-breaking spaces inside markup count as spaces;
* a doubled leading dot (``{{ ..action.field }}``) is a leading dot;
* a filter argument written without its colon (``| regex_replace '\\n', ''``);
* backslash-escaped quotes inside markup (``where:\\"name\\",\\"Received\\"``) are quotes,
  except inside a single-quoted string, which Liquid takes literally (``replace: '}\\"', '}'``);
* an output nested in a tag (``{% if a == {{.b}} %}``) is the bare expression ``.b``;
* ``path[*].key`` spreads over an array (see ``render.TinesContext``);
* a filter in an ``if``/``elsif``/``unless`` condition is ignored up to the next
  ``and``/``or``, exactly as Ruby's lax parser does (it tests the unfiltered value);
* in a condition, whatever follows a complete comparison before the next ``and``/``or``
  is ignored, as Ruby's lax parser does (``a contains 'x' b contains 'y'`` tests ``a``);
* a hyphen inside a path key (``headers.Authentication-Results``) is part of the key, as
  in Ruby Liquid's identifiers; the key becomes ``['Authentication-Results']``;
* a path segment that python-liquid reserves as a keyword (``geo.as.asn``, ``.in``,
  ``.empty``, ...: Ruby Liquid reserves none) becomes ``['as']``;
* whitespace or a newline between a word and its dot continues the path (Ruby Liquid's
  lexer skips whitespace between tokens); after ``and``/``in``/... the dot is a leading dot;
* ``{{ . }}`` is the whole incoming event (``['.']``, see ``roots.Names``).

String literals, ``{% raw %}`` and ``{% comment %}`` blocks and the custom widget tags
(whose arguments are plain text) are left alone. Only the hyphen, keyword, lone-dot and
condition leniencies can shift columns, and no rewrite adds or removes a newline, so line numbers always hold.
"""

from __future__ import annotations

import re

MARKUP = re.compile(
    r"\{\{(?P<out>.*?)\}\}"
    r"|\{%-?\s*(?P<name>#|\w+)(?P<expr>.*?)-?%\}",
    re.DOTALL,
)
_STRING = re.compile(r"'[^']*'|\"[^\"]*\"", re.DOTALL)
_PATH_START = re.compile(r"(?<=[\s(\[,:|=<>!])\.\.?(?=[A-Za-z_])")
_LEADING_DOT = re.compile(r"-?(\.\.?)(?=[A-Za-z_])")  # also right after "{{-"
_FILTER_NO_COLON = re.compile(r"\|\s*\w+(\s+)$")
_NESTED_OUTPUT = re.compile(r"\{\{-?|-?\}\}")
_SPREAD = re.compile(r"\[\s*\*\s*\]")
_CONDITION_FILTER = re.compile(r"\|.*?(?=\s(?:and|or)\s|$)", re.DOTALL)
_ESCAPED_QUOTE = re.compile(r"'[^']*'|\\\"")
_HYPHEN_KEY = re.compile(r"\.([A-Za-z_]\w*(?:-\w+)+\??)")
_WHOLE_EVENT = re.compile(r"(?:^|(?<=[\s(\[,:|=<>!]))\.(?=\s|$|[|),\]])")
_KEYWORD_SEGMENT = re.compile(r"(?<=[\w\]?])(\s*)\.(\s*)([A-Za-z_]+)(?![\w?-])")
_WORD_BEFORE = re.compile(r"(\.\s*)?([\w?-]*)\s+$")

KEYWORDS = frozenset({
    "true", "false", "nil", "null", "empty", "blank", "and", "or", "contains", "not", "in", "offset",
    "limit", "reversed", "cols", "continue", "with", "for", "as", "if", "else", "required",
})
"""The words python-liquid's expression grammar reserves; Ruby Liquid has none in a path
(``x.geo.as.asn``), so after a dot they are rewritten to the bracket form (``['as']``)."""

WHOLE_EVENT_KEY = "."
"""``{{ . }}`` (Tines: the whole incoming event) is rewritten to ``['.']``; the names a
template sees answer this key with the event itself."""

_SKIP_BLOCKS = {"raw": "endraw", "comment": "endcomment"}
_CONDITION_TAGS = frozenset({"if", "elsif", "unless"})

SPREAD_KEY = "*"
"""The key ``[*]`` is rewritten to; the render context spreads it over arrays."""


def _blank(m: re.Match[str]) -> str:
    return " " * len(m.group())


def _path_start(m: re.Match[str]) -> str:
    """Blank a leading dot, unless it continues the path before it across whitespace
    (``foo \n .bar`` is ``foo.bar`` in Ruby Liquid, whose lexer skips whitespace)."""
    before = _WORD_BEFORE.search(m.string, 0, m.start())
    word = before.group(2) if before else ""
    if word and (before.group(1) or (word not in KEYWORDS and not word[0].isdigit())):  # type: ignore[union-attr]
        return m.group()[-1]  # ``..x`` after a word: one dot joins, the other is blanked
    return " " * len(m.group())


def _keyword_segment(m: re.Match[str]) -> str:
    if m.group(3) not in KEYWORDS:
        return m.group()
    return f"{m.group(1)}{m.group(2)}['{m.group(3)}']"


def _rewrite_code(code: str, *, at_start: bool, followed_by_string: bool, in_tag: bool) -> str:
    code = code.replace("\xa0", " ")
    if in_tag and ("{{" in code or "}}" in code):
        code = _NESTED_OUTPUT.sub(_blank, code)
    if "." in code:
        code = _WHOLE_EVENT.sub(f"['{WHOLE_EVENT_KEY}']", code)
    code = _PATH_START.sub(_path_start, code)
    lead = _LEADING_DOT.match(code) if at_start else None
    if lead:
        code = code[: lead.start(1)] + " " * len(lead.group(1)) + code[lead.end(1) :]
    if followed_by_string:
        m = _FILTER_NO_COLON.search(code)
        if m:
            code = code[: m.start(1)] + ":" + code[m.start(1) + 1 :]
    if "[" in code:
        code = _SPREAD.sub(f"['{SPREAD_KEY}']", code)
    if "-" in code:
        code = _HYPHEN_KEY.sub(r"['\1']", code)
    if "." in code:
        code = _KEYWORD_SEGMENT.sub(_keyword_segment, code)
    return code


def _segments(expr: str) -> list[tuple[bool, str]]:
    """Split an expression into (is_string_literal, text) runs."""
    out: list[tuple[bool, str]] = []
    pos = 0
    for m in _STRING.finditer(expr):
        if m.start() > pos:
            out.append((False, expr[pos : m.start()]))
        out.append((True, m.group()))
        pos = m.end()
    if pos < len(expr):
        out.append((False, expr[pos:]))
    return out


_CONDITION_CHUNK = re.compile(r"(?<=\s)(?:and|or)(?=\s)")
_FRAGMENT = re.compile(r"\S+")
_COMPARATORS = frozenset({"==", "!=", "<>", "<", ">", "<=", ">=", "contains"})


_OPERATOR_WORD = re.compile(r"[a-z_]+")


def _unknown_operator(left: str, word: str) -> bool:
    """``a startswith b``: Ruby's lax parser takes the word as the operator and fails on it
    (``Unknown operator startswith``); only junk after a complete comparison is ignored."""
    return left != "not" and word not in _COMPARATORS and _OPERATOR_WORD.fullmatch(word) is not None


def _drop_condition_junk(expr: str) -> str:
    """Blank what follows ``left [op right]`` in each ``and``/``or`` part of a condition."""
    masked = "".join(
        text if not is_str else text[0] + "_" * (len(text) - 2) + text[-1] for is_str, text in _segments(expr)
    )
    masked = _NESTED_OUTPUT.sub(_blank, masked)  # {{ }} inside a tag are blanked later
    chars = list(expr)
    bounds = [0, *(x for m in _CONDITION_CHUNK.finditer(masked) for x in (m.start(), m.end())), len(masked)]
    for start, end in zip(bounds[::2], bounds[1::2], strict=True):
        fragments = list(_FRAGMENT.finditer(masked, start, end))
        if len(fragments) >= 2 and _unknown_operator(fragments[0].group(), fragments[1].group()):
            continue  # left in place: python-liquid refuses it, as Ruby Liquid does
        keep = 3 if len(fragments) >= 3 and fragments[1].group() in _COMPARATORS else 1
        for frag in fragments[keep:]:
            chars[frag.start() : frag.end()] = " " * (frag.end() - frag.start())
    return "".join(chars)


def _drop_condition_filters(expr: str) -> str:
    """Blank out ``| filter ...`` up to the next ``and``/``or`` (outside string literals)."""
    # Work on a copy with string contents masked so '|' or 'and' inside quotes are ignored.
    masked = "".join(
        text if not is_str else text[0] + "_" * (len(text) - 2) + text[-1] for is_str, text in _segments(expr)
    )
    if "|" not in masked:
        return expr
    chars = list(expr)
    for m in _CONDITION_FILTER.finditer(masked):
        for i in range(m.start(), m.end()):
            chars[i] = " "
    return "".join(chars)


def rewrite_expression(expr: str, tag: str | None = None) -> str:
    """Rewrite one output expression (``tag=None``) or the expression of tag ``tag``."""
    if '\\"' in expr:
        # Shift left, then pad, so text after this expression keeps its offset.
        fixed = _ESCAPED_QUOTE.sub(lambda m: m.group() if m.group()[0] == "'" else '"', expr)
        expr = fixed + " " * (len(expr) - len(fixed))
    if tag in _CONDITION_TAGS:
        if "|" in expr:
            expr = _drop_condition_filters(expr)
        expr = _drop_condition_junk(expr)
    if "." not in expr and "\xa0" not in expr and "|" not in expr and "{{" not in expr and "[" not in expr:
        return expr
    segments = _segments(expr)
    out: list[str] = []
    for i, (is_str, text) in enumerate(segments):
        if is_str:
            out.append(text)
            continue
        nxt = segments[i + 1] if i + 1 < len(segments) else None
        out.append(
            _rewrite_code(
                text,
                at_start=i == 0,
                followed_by_string=nxt is not None and nxt[0],
                in_tag=tag is not None,
            )
        )
    return "".join(out)


def rewrite(source: str, widget_tags: frozenset[str] = frozenset()) -> str:
    """Return ``source`` as standard Liquid (see the module docstring for what changes)."""
    parts: list[str] = []
    pos = 0
    skip_until: str | None = None
    for m in MARKUP.finditer(source):
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
        old = source[start:end]
        new = rewrite_expression(old, name)
        if new != old:
            parts.append(source[pos:start])
            parts.append(new)
            pos = end
    if not parts:
        return source
    parts.append(source[pos:])
    return "".join(parts)
