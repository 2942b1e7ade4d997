"""Generate ``docs/api.md``, the API reference, from the docstrings of the public names.

    python docs/build_api.py            # (re)write docs/api.md
    python docs/build_api.py --check    # exit 1 when docs/api.md is out of date

The public names are ``hybridgen.__all__`` and the ``__all__`` of the modules in
:data:`MODULES`. For each name: a heading, its signature and its docstring as
Markdown; for a class, also its public methods and properties defined in hybridgen
(those inherited unchanged from scikit-learn are only named). Only the standard
library's :mod:`inspect` is used; the output is deterministic, so a test can compare
it with the committed file.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

DOCS = Path(__file__).resolve().parent
API_MD = DOCS / "api.md"
COMMAND = "python docs/build_api.py"

#: the documented modules, in order; each is documented through its ``__all__``
MODULES = (
    "hybridgen",
    "hybridgen.compare",
    "hybridgen.report",
    "hybridgen.metrics",
    "hybridgen.adapters",
    "hybridgen.datasets",
    "hybridgen.transform",
    "hybridgen.callbacks",
    "hybridgen.distributed",
)
#: modules whose docstrings the top-level names refer to ("see the module docstring")
NOTES = (
    "hybridgen.base",
    "hybridgen.gmm",
    "hybridgen.vae",
    "hybridgen.vaegan",
    "hybridgen.exceptions",
)
#: numpydoc sections rendered as a list of entries (``name : type`` and a description)
FIELD_SECTIONS = {
    "Parameters",
    "Other Parameters",
    "Returns",
    "Yields",
    "Receives",
    "Raises",
    "Warns",
    "Attributes",
}
WIDTH = 88  # a signature longer than this is written one parameter per line
#: scikit-learn methods named (not repeated) under a class that inherits them; a fixed
#: list, present in every supported scikit-learn, so the output does not change with
#: the installed version
SKLEARN_METHODS = (
    "fit_predict",
    "fit_transform",
    "get_feature_names_out",
    "get_metadata_routing",
    "get_params",
    "set_output",
    "set_params",
)


# -- text conversion -----------------------------------------------------------------------------
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj):`(~?)([^`<]+?)`")


def _inline(text: str) -> str:
    """reST inline markup to Markdown: ``code`` -> `code`, :class:`~a.B` -> `B`."""

    def role(match: re.Match[str]) -> str:
        target = match.group(2).strip()
        return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"

    text = _ROLE.sub(role, text)
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _fence(lines: list[str], language: str = "text") -> list[str]:
    body = textwrap.dedent("\n".join(lines)).strip("\n")
    return [f"```{language}", *body.splitlines(), "```"]


def _prose(lines: list[str]) -> list[str]:
    """Light reST -> Markdown for running text: paragraphs, bullets, definition lists
    (a term line followed by indented lines), literal blocks after ``::`` and indented
    blocks (formulas), which become fenced text."""
    lines = textwrap.dedent("\n".join(lines)).splitlines()
    out: list[str] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            out.append("")
            i += 1
            continue
        if _indent_of(line) > 0:  # an indented block: a literal block or a formula
            block = []
            while i < n and (not lines[i].strip() or _indent_of(lines[i]) > 0):
                block.append(lines[i])
                i += 1
            out += [*_fence(block), ""]
            continue
        stripped = line.rstrip()
        if stripped.startswith(("* ", "- ")):  # a bullet and its continuation lines
            item = [stripped[2:].strip()]
            i += 1
            while i < n and lines[i].strip() and _indent_of(lines[i]) > 0:
                item.append(lines[i].strip())
                i += 1
            out.append("- " + _inline(" ".join(item)))
            continue
        if (
            i + 1 < n
            and lines[i + 1].strip()
            and _indent_of(lines[i + 1]) > 0
            and not (stripped.endswith("::"))
        ):  # a definition-list item: term, then its indented description
            term = _inline(stripped)
            i += 1
            body = []
            while i < n and (not lines[i].strip() or _indent_of(lines[i]) > 0):
                body.append(lines[i])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            out.append(f"- **{term}**  ")
            out += ["  " + row if row.strip() else "" for row in _prose(body)]
            out.append("")
            continue
        if stripped.endswith("::"):
            text = stripped[:-2].rstrip()
            if text:
                out.append(_inline(text) + ":")
            i += 1
            continue
        out.append(_inline(stripped))
        i += 1
    return out


def _split_sections(doc: str) -> list[tuple[str | None, list[str]]]:
    """(title, lines) of a docstring: the untitled head, then each ``Title\\n-----``."""
    lines = doc.splitlines()
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if (
            line.strip()
            and _indent_of(line) == 0
            and len(underline) >= 3
            and set(underline) == {"-"}
            and len(underline) == len(line.strip())
        ):
            sections.append((line.strip(), []))
            i += 2
            continue
        sections[-1][1].append(line)
        i += 1
    return sections


def _field_entries(lines: list[str]) -> list[tuple[str, list[str]]]:
    """(head, description lines) of each ``name : type`` entry of a numpydoc section.

    A head that visibly goes on (ends with a comma, "of", "shape", "or"...) takes the
    next line too, so a wrapped type or a wrapped list of names stays in the head.
    """
    lines = textwrap.dedent("\n".join(lines)).splitlines()
    entries: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.strip() and _indent_of(line) == 0:
            if entries and _continues(entries[-1][0]) and not entries[-1][1]:
                entries[-1] = (f"{entries[-1][0]} {line.strip()}", [])
            else:
                entries.append((line.strip(), []))
        elif entries:
            head, body = entries[-1]
            if not body and line.strip() and _continues(head):
                entries[-1] = (f"{head} {line.strip()}", body)
            else:
                body.append(line)
    return entries


def _continues(head: str) -> bool:
    words = head.split()
    return head.endswith(",") or (bool(words) and words[-1] in {"of", "shape", "or", "and"})


def _fields(lines: list[str]) -> list[str]:
    out: list[str] = []
    for head, body in _field_entries(lines):
        name, sep, kind = head.partition(" : ")
        rendered = f"- `{name.strip()}`" + (f" : {_inline(kind.strip())}" if sep else "")
        while body and not body[-1].strip():
            body.pop()
        if not body:
            out.append(rendered)
            continue
        out.append(rendered + "  ")
        out += ["  " + row if row.strip() else "" for row in _prose(body)]
    return out


def markdown(doc: str | None) -> list[str]:
    """A numpydoc docstring as Markdown lines."""
    if not doc:
        return []
    out: list[str] = []
    for title, lines in _split_sections(inspect.cleandoc(doc)):
        if title is None:
            out += _prose(lines)
        elif title in FIELD_SECTIONS:
            out += ["", f"**{title}**", ""] + _fields(lines)
        elif title == "Examples":
            out += ["", "**Examples**", ""] + _fence(lines, "pycon")
        else:
            out += ["", f"**{_inline(title)}**", ""] + _prose(lines)
    return _tidy(out)


def _tidy(lines: Iterable[str]) -> list[str]:
    """No leading, trailing or doubled blank lines, no trailing spaces except a hard
    break (two spaces) at the end of a line followed by text."""
    out: list[str] = []
    for line in lines:
        if not line.strip():
            if out and out[-1]:
                out.append("")
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    fixed = []
    for k, line in enumerate(out):
        following = out[k + 1] if k + 1 < len(out) else ""
        fixed.append(line if line.endswith("  ") and following.strip() else line.rstrip())
    return fixed


# -- signatures ----------------------------------------------------------------------------------
class _Text:
    """An annotation shown as written in the source (``from __future__ import
    annotations`` keeps them as strings; ``repr`` of a string would add quotes)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _plain(annotation: Any) -> Any:
    if annotation is inspect.Parameter.empty:
        return annotation
    return _Text(
        annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    )


def _signature(obj: Any, *, drop_first: bool = False, is_class: bool = False) -> str | None:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if drop_first and params:
        params = params[1:]
    params = [p.replace(annotation=_plain(p.annotation)) for p in params]
    returns = inspect.Signature.empty if is_class else _plain(signature.return_annotation)
    return str(signature.replace(parameters=params, return_annotation=returns))


def _signature_block(name: str, signature: str | None, prefix: str = "") -> list[str]:
    if signature is None:
        return ["```python", f"{prefix}{name}", "```"]
    one_line = f"{prefix}{name}{signature}"
    if len(one_line) <= WIDTH:
        return ["```python", one_line, "```"]
    inner, _, returns = signature.rpartition(")")
    parts = _split_params(inner[1:])
    return ["```python", f"{prefix}{name}(", *[f"    {p}," for p in parts], f"){returns}", "```"]


def _split_params(text: str) -> list[str]:
    """Split a parameter list on the commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _qualified(cls: type) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


# -- one public name -----------------------------------------------------------------------------
def _is_exception(obj: Any) -> bool:
    return inspect.isclass(obj) and issubclass(obj, (BaseException, Warning))


def _defining_class(cls: type, name: str) -> type | None:
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return None


def _members(cls: type) -> tuple[list[tuple[str, Any, type]], list[str]]:
    """Public methods and properties defined in hybridgen, and the names of those
    inherited from scikit-learn."""
    own, sklearn = [], []
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        owner = _defining_class(cls, name)
        if owner is None:
            continue
        raw = vars(owner)[name]
        if not (inspect.isfunction(raw) or isinstance(raw, (classmethod, staticmethod, property))):
            continue
        if owner.__module__.startswith("hybridgen"):
            own.append((name, raw, owner))
        elif owner.__module__.startswith("sklearn") and name in SKLEARN_METHODS:
            sklearn.append(name)
    return own, sklearn


def _member(cls: type, name: str, raw: Any, owner: type) -> list[str]:
    heading = f"#### `{cls.__name__}.{name}`"
    inherited = [] if owner is cls else [f"_Inherited from `{_qualified(owner)}`._", ""]
    if isinstance(raw, property):
        return [heading, "", "_property_", "", *inherited, *markdown(inspect.getdoc(raw)), ""]
    if isinstance(raw, classmethod):
        signature, prefix = _signature(getattr(cls, name)), "classmethod "
    elif isinstance(raw, staticmethod):
        signature, prefix = _signature(getattr(cls, name)), "staticmethod "
    else:
        signature, prefix = _signature(raw, drop_first=True), ""
    return [
        heading,
        "",
        *_signature_block(name, signature, prefix),
        "",
        *inherited,
        *markdown(inspect.getdoc(getattr(cls, name))),
        "",
    ]


def _class(qualname: str, cls: type) -> list[str]:
    bases = ", ".join(_qualified(b) for b in cls.__bases__ if b is not object)
    lines = [f"### `{qualname}`", ""]
    if _is_exception(cls):
        lines += ["```python", f"class {cls.__name__}({bases})", "```", ""]
    else:
        signature = _signature(cls, is_class=True)
        lines += [*_signature_block(cls.__name__, signature, "class "), ""]
        if bases:
            lines += [f"Bases: `{bases}`", ""]
    if cls.__module__ != qualname.rpartition(".")[0]:
        lines += [f"Defined in `{cls.__module__}`.", ""]
    lines += [*markdown(inspect.getdoc(cls)), ""]
    if _is_exception(cls):
        return lines
    own, sklearn = _members(cls)
    for name, raw, owner in own:
        lines += _member(cls, name, raw, owner)
    if sklearn:
        names = ", ".join(f"`{n}`" for n in sklearn)
        lines += [f"Also inherited unchanged from scikit-learn: {names}.", ""]
    return lines


def _function(qualname: str, func: Callable[..., Any]) -> list[str]:
    lines = [f"### `{qualname}`", "", *_signature_block(func.__name__, _signature(func)), ""]
    if func.__module__ != qualname.rpartition(".")[0]:
        lines += [f"Defined in `{func.__module__}`.", ""]
    return [*lines, *markdown(inspect.getdoc(func)), ""]


def _doc_comment(module: ModuleType, name: str) -> str:
    """The ``#:`` comment lines just above ``name = ...`` (or ``name: T = ...``)."""
    try:
        source = inspect.getsource(module).splitlines()
    except (OSError, TypeError):
        return ""
    pattern = re.compile(rf"^{re.escape(name)}\s*(:|=)")
    for k, line in enumerate(source):
        if pattern.match(line):
            comments: list[str] = []
            j = k - 1
            while j >= 0 and source[j].startswith("#:"):
                comments.insert(0, source[j][2:].strip())
                j -= 1
            return " ".join(comments)
    return ""


def _value(value: Any) -> str:
    if inspect.isclass(value):
        return _qualified(value)
    if isinstance(value, dict) and value:
        rows = [f"    {k!r}: {_value(v)}," for k, v in value.items()]
        return "{\n" + "\n".join(rows) + "\n}"
    return repr(value)


def _constant(qualname: str, module: ModuleType, name: str, value: Any) -> list[str]:
    annotation = getattr(module, "__annotations__", {}).get(name)
    shown = f"{name}: {annotation}" if isinstance(annotation, str) else name
    comment = _doc_comment(module, name)
    if name == "__version__" and not comment:
        comment = "The version of hybridgen."
    lines = [f"### `{qualname}`", "", "```python", f"{shown} = {_value(value)}", "```", ""]
    if comment:
        lines += [_inline(comment[0].upper() + comment[1:]), ""]
    return lines


# -- the document --------------------------------------------------------------------------------
def _slug(heading: str) -> str:
    """GitHub's anchor for a heading line, before duplicates are numbered."""
    text = heading.lstrip("#").strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(lines: list[str]) -> dict[str, str]:
    """The anchor of each heading line outside code fences, numbered as GitHub does
    (``name``, ``name-1``, ...) when two headings give the same slug."""
    anchors: dict[str, str] = {}
    seen: dict[str, int] = {}
    fenced = False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not line.startswith("#"):
            continue
        slug = _slug(line)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.setdefault(line, slug if count == 0 else f"{slug}-{count}")
    return anchors


def _groups(module: ModuleType) -> list[tuple[str, list[tuple[str, Any]]]]:
    names = list(getattr(module, "__all__", []))
    objects = [(name, getattr(module, name)) for name in names]
    kinds: dict[str, list[tuple[str, Any]]] = {
        "Classes": [],
        "Functions": [],
        "Constants": [],
        "Exceptions and warnings": [],
    }
    for name, obj in objects:
        if _is_exception(obj):
            kinds["Exceptions and warnings"].append((name, obj))
        elif inspect.isclass(obj):
            kinds["Classes"].append((name, obj))
        elif callable(obj):
            kinds["Functions"].append((name, obj))
        else:
            kinds["Constants"].append((name, obj))
    return [(kind, members) for kind, members in kinds.items() if members]


def _module_section(module_name: str) -> tuple[list[str], list[tuple[int, str]]]:
    """The section of one module, and its (level, heading line) entries for the contents."""
    module = importlib.import_module(module_name)
    heading = f"## `{module_name}`"
    lines = [heading, "", *markdown(inspect.getdoc(module)), ""]
    toc = [(0, heading)]
    for kind, members in _groups(module):
        lines += [f"**{kind}**", ""]
        for name, obj in members:
            qualname = f"{module_name}.{name}"
            toc.append((1, f"### `{qualname}`"))
            if inspect.isclass(obj):
                lines += _class(qualname, obj)
            elif callable(obj):
                lines += _function(qualname, obj)
            else:
                lines += _constant(qualname, module, name, obj)
    return lines, toc


def _notes_section() -> tuple[list[str], list[tuple[int, str]]]:
    heading = "## Module notes"
    lines = [
        heading,
        "",
        "The docstrings of the modules that define the top-level names; the class",
        "docstrings above refer to them for the full story.",
        "",
    ]
    toc = [(0, heading)]
    for module_name in NOTES:
        module = importlib.import_module(module_name)
        title = f"### `{module_name}`"
        lines += [title, "", *markdown(inspect.getdoc(module)), ""]
        toc.append((1, title))
    return lines, toc


def render() -> str:
    """The whole of ``docs/api.md``."""
    body: list[str] = []
    entries: list[tuple[int, str]] = []
    for lines, toc in [*(_module_section(m) for m in MODULES), _notes_section()]:
        body += lines
        entries += toc
    head = [
        "# hybridgen API reference",
        "",
        f"<!-- Generated by docs/build_api.py from the docstrings; do not edit. Regenerate "
        f"with `{COMMAND}`. -->",
        "",
        "Every public name: `hybridgen.__all__` and the `__all__` of "
        + ", ".join(f"`{m}`" for m in MODULES[1:])
        + ". Signatures are as written in the source. Methods inherited unchanged from "
        "scikit-learn (`get_params`, `set_params`, ...) are named, not repeated. The user "
        "guide is [guide.md](guide.md).",
        "",
        "## Contents",
        "",
    ]
    anchors = _anchors([*head, *body])
    contents = []
    for level, heading in entries:
        text = heading.lstrip("#").strip()
        if level:  # a name: shown without its module, which is the entry above
            text = "`" + text.strip("`").rpartition(".")[2] + "`"
        contents.append(f"{'  ' * level}- [{text}](#{anchors[heading]})")
    return "\n".join(_tidy([*head, *contents, "", *body])) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if docs/api.md differs; write nothing"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = API_MD.read_text(encoding="utf-8") if API_MD.exists() else ""
        if current != text:
            print(f"{API_MD} is out of date; run: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    API_MD.write_text(text, encoding="utf-8")
    print(f"wrote {API_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
