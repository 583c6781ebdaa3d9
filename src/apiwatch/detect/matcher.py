"""Sigma detections compiled into Python functions.

pySigma parses a rule and applies its modifiers (``contains``, ``all``, ``base64offset`` ...),
leaving a condition tree whose leaves are typed values: wildcard strings, regular expressions,
CIDR networks, numeric comparisons, ``exists``, null, and the parts of a timestamp (``minute``,
``hour``, ``day`` of the month, ISO ``week``, ``month``, ``year``: on ``@timestamp``, in UTC as
events carry it). `compile_detection` turns that tree into
the source of one Python expression over a `Record`'s ``values`` (``V``) and lower-cased
``lower`` (``L``) dicts and compiles it once, so matching an event costs a few dict lookups and
string operations, not a tree walk.

Sigma's string matching is case-insensitive unless the ``cased`` modifier is given; regular
expressions are case-sensitive unless they carry the ``i`` flag. A field an event lacks matches
nothing but ``null`` and ``exists: false``.

Anything the compiler cannot evaluate raises `Unsupported` with the reason, which the loader
reports per rule.
"""

from __future__ import annotations

import ast
import hashlib
import ipaddress
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from sigma import conditions as sc
from sigma import types as st

from apiwatch.detect.fields import KEYWORD_FIELDS, canonical_field, field_known, field_unavailable
from apiwatch.model import ApiwatchError

__all__ = [
    "Generated",
    "MatchAll",
    "Matcher",
    "Unsupported",
    "compile_all",
    "compile_detection",
    "generate",
    "module_source",
    "prebuilt",
]

Matcher = Callable[[dict[str, Any], dict[str, str]], bool]
"""A compiled detection: ``matcher(record.values, record.lower) -> bool``."""


class Unsupported(ApiwatchError):  # noqa: N818 - a reason, raised and reported, not an error of ours
    """A rule uses something this engine cannot evaluate; the message says what, and ``field``
    names the rule's field when one is the reason (so a linter can point at its line)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.field = field


class _Compiler:
    def __init__(
        self, constants: dict[str, Any] | None = None, kinds: dict[str, str] | None = None
    ) -> None:
        self.constants: dict[str, Any] = {} if constants is None else constants
        self.kinds: dict[str, str] = {} if kinds is None else kinds
        self.fields: set[str] = set()
        self.reads: dict[tuple[str, str], str] = {}
        self.memo_fields: frozenset[str] = frozenset()
        self.memos: dict[str, _FieldMemo] = {}

    def read(self, source: str, name: str) -> str:
        """The local variable holding ``V.get(name)`` (source "V") or ``L.get(name)`` ("L")."""
        key = (source, name)
        var = self.reads.get(key)
        if var is None:
            var = self.reads[key] = f"{source.lower()}{len(self.reads)}"
        return var

    def prologue(self, value: str | None = None) -> str:
        """Read each field once from the typed values ``V`` (or take ``value``, in a
        `_FieldMemo`'s function): lower-cased copies are made here, once per event and field
        (numbers as their decimal text, absent as "")."""
        lines = []
        done: set[str] = set()
        for (src, name), var in self.reads.items():
            typed = self.reads.get(("V", name))
            source = typed or var
            if source not in done:
                lines.append(f"    {source} = {value or f'V.get({name!r})'}\n")
                done.add(source)
            if src == "L":
                lines.append(
                    f"    {var} = {source}.lower() if type({source}) is str else "
                    f"(_EMPTY if {source} is None else str({source}))\n"
                )
        return "".join(lines)

    def const(self, value: Any, kind: str = "Any") -> str:
        """A name for ``value`` in the generated code; ``kind`` is its type there."""
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        self.kinds[name] = kind
        return name

    def memo_reads(self) -> str:
        """Each memoised field's mask: remembered for its value, else computed (and kept)."""
        lines = []
        for name, memo in self.memos.items():
            var = self.read("V", name)
            mask = memo.mask
            lines.append(
                f"    {mask} = {memo.cache}.get({var}) if type({var}) in _KEYED else None\n"
                f"    if {mask} is None:\n        {mask} = {memo.make}({var})\n"
            )
        return "".join(lines)

    def memoised(self, node: Any) -> str | None:
        """``node`` as a bit of its field's mask, when it reads only a memoised field."""
        fields = _fields_of(node)
        if len(fields) != 1 or fields.isdisjoint(self.memo_fields):
            return None
        (name,) = fields
        memo = self.memos.get(name)
        if memo is None:
            memo = self.memos[name] = _FieldMemo(len(self.memos), self)
            self.read("V", name)
        return memo.bit(node)

    def node(self, node: Any) -> str:  # noqa: PLR0911 - one case per node type
        bit = self.memoised(node) if self.memo_fields else None
        if bit is not None:
            return bit
        if isinstance(node, sc.ConditionAND):
            return "(" + " and ".join(self.node(arg) for arg in node.args) + ")"
        if isinstance(node, sc.ConditionOR):
            merged = self.membership(node.args)
            if merged is not None:
                return merged
            return "(" + " or ".join(self.node(arg) for arg in node.args) + ")"
        if isinstance(node, sc.ConditionNOT):
            return "(not " + self.node(node.args[0]) + ")"
        if isinstance(node, sc.ConditionFieldEqualsValueExpression):
            return self.field_value(node.field, node.value)
        if isinstance(node, sc.ConditionValueExpression):
            return self.keyword(node.value)
        raise Unsupported(f"condition element {type(node).__name__}")

    def membership(self, args: list[Any]) -> str | None:
        """``field`` equal to one of several plain values: one set lookup instead of a chain."""
        fields = set()
        members: set[object] = set()
        for arg in args:
            if not isinstance(arg, sc.ConditionFieldEqualsValueExpression):
                return None
            value = arg.value
            if isinstance(value, st.SigmaTimestampPart):
                return None
            if isinstance(value, st.SigmaNumber):
                members.update({value.number, str(value.number)})
            elif (
                type(value) is st.SigmaString
                and not value.contains_special()
                and not value.contains_placeholder()
            ):
                text = str(value).lower()
                members.add(text)
                if text.isdigit():  # '404' matches the typed status code 404 too
                    members.add(int(text))
            else:
                return None
            fields.add(arg.field)
        if len(fields) != 1 or len(args) < 2:
            return None
        (raw,) = fields
        if not isinstance(self.node(args[0]), str):  # validates and records the field
            return None
        name = canonical_field(raw)
        strings = any(isinstance(m, str) and not m.isdigit() for m in members)
        var = self.read("L", name) if strings else self.read("V", name)
        return f"({var} in {self.const(frozenset(members))})"

    def field_value(self, raw_field: str, value: Any) -> str:
        name = canonical_field(raw_field)
        if field_unavailable(name):
            raise Unsupported(f"field {raw_field!r} ({name}) is not in apiwatch events", raw_field)
        if not field_known(name):
            raise Unsupported(f"unknown field {raw_field!r}", raw_field)
        self.fields.add(name)
        return self.value_test(name, value)

    def value_test(self, name: str, value: Any) -> str:  # noqa: PLR0911, PLR0912 - one case per type
        v = self.read("V", name)
        if isinstance(value, st.SigmaExpansion):
            return "(" + " or ".join(self.value_test(name, v) for v in value.values) + ")"
        if isinstance(value, st.SigmaCasedString):
            return self.string_test(f"str({v} or _EMPTY)", value, cased=True)
        if isinstance(value, st.SigmaString):
            return self.string_test(self.read("L", name), value, cased=False)
        if isinstance(value, st.SigmaBool):
            return f"({v} is {bool(value.boolean)!r})"
        if isinstance(value, st.SigmaTimestampPart):
            part = value.timestamp_part.name.lower()
            return f"(_time_part({v}, {part!r}) == {int(value.number)!r})"
        if isinstance(value, st.SigmaNumber):
            number = value.number
            both = self.const(frozenset({number, str(number)}))
            return f"({v} in {both})"
        if isinstance(value, st.SigmaNull):
            return f"({v} is None)"
        if isinstance(value, st.SigmaExists):
            return f"({v} is {'not ' if value.exists else ''}None)"
        if isinstance(value, st.SigmaRegularExpression):
            return self.regex_test(v, value)
        if isinstance(value, st.SigmaCIDRExpression):
            net = self.const(value.network)
            return f"_in_net({v}, {net})"
        if isinstance(value, st.SigmaCompareExpression):
            return self.compare_test(v, value)
        if isinstance(value, st.SigmaFieldReference):
            other = canonical_field(value.field)
            if not field_known(other) or field_unavailable(other):
                raise Unsupported(f"unknown field {value.field!r} in a field reference", name)
            self.fields.add(other)
            w = self.read("L", other)
            mine = self.read("L", name)
            # The lower-cased reads of an absent field are "": test the typed values for
            # presence, or two absent fields would be "equal" and match every event.
            present = f"{v} is not None and {self.read('V', other)} is not None"
            return f"({present} and {mine} == {w})"
        raise Unsupported(f"value type {type(value).__name__} on field {name!r}")

    def compare_test(self, v: str, value: st.SigmaCompareExpression) -> str:
        ops = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">=", "NEQ": "!="}
        op = ops[value.op.name]
        return f"(_num({v}) {op} {value.number.number!r})"

    def string_test(self, getter: str, value: st.SigmaString, *, cased: bool) -> str:
        parts = value.s
        fold = (lambda s: s) if cased else str.lower
        if value.contains_placeholder():
            raise Unsupported(f"placeholder in value {value.original!r}")
        plain = all(isinstance(p, str) for p in parts)
        if plain:
            text = fold("".join(parts))  # type: ignore[arg-type]
            return f"({getter} == {text!r})"
        inner = parts[1:-1]
        star = st.SpecialChars.WILDCARD_MULTI
        if len(parts) == 3 and parts[0] is star and parts[2] is star and isinstance(parts[1], str):
            return f"({fold(parts[1])!r} in {getter})"
        if len(parts) == 2 and isinstance(parts[0], str) and parts[1] is star:
            return f"{getter}.startswith({fold(parts[0])!r})"
        if len(parts) == 2 and parts[0] is star and isinstance(parts[1], str):
            return f"{getter}.endswith({fold(parts[1])!r})"
        del inner
        regex = value.to_regex().regexp.original
        flags = re.DOTALL | (0 if cased else re.IGNORECASE)
        pattern = self.const(re.compile(regex, flags))
        return f"({getter} is not None and {pattern}.fullmatch(str({getter})) is not None)"

    def regex_test(self, getter: str, value: st.SigmaRegularExpression) -> str:
        flags = 0
        for flag in value.flags:
            flags |= st.SigmaRegularExpression.sigma_to_python_flags[flag]
        try:
            compiled = re.compile(value.regexp.original, flags)
        except re.error as exc:
            raise Unsupported(f"regular expression {value.regexp.original!r}: {exc}") from exc
        pattern = self.const(compiled)
        return f"({getter} is not None and {pattern}.search(str({getter})) is not None)"

    def keyword(self, value: Any) -> str:
        tests = []
        for name in KEYWORD_FIELDS:
            self.fields.add(name)
            tests.append(self.value_test(name, _as_contains(value)))
        return "(" + " or ".join(tests) + ")"


MEMO_LIMIT: Final = 2048
"""Distinct values a `_FieldMemo` remembers; past that it forgets them all and starts again."""


class _FieldMemo:
    """The tests of one field, evaluated once per distinct value: bit ``i`` of the field's
    mask is the ``i``-th subtree that reads only that field. Values of `_KEYED` types are
    remembered (a string never equals an int, and ``True``/``1.0`` are not remembered, so a
    value gets only its own mask); others are tested each time."""

    def __init__(self, index: int, parent: _Compiler) -> None:
        self.compiler = _Compiler(parent.constants, parent.kinds)
        self.tests: list[str] = []
        self.mask = f"_m{index}"
        self.make = f"_mk{index}"
        self.cache = parent.const({}, "dict[Any, int]")

    def bit(self, node: Any) -> str:
        """The test of ``node`` (reading only this field) as a bit of the mask."""
        test = self.compiler.node(node)
        if test not in self.tests:
            self.tests.append(test)
        return f"({self.mask} & {1 << self.tests.index(test)})"

    def function(self) -> str:
        """The source of the function computing (and remembering) a value's mask."""
        sets = "".join(
            f"    if {test}:\n        m |= {1 << i}\n" for i, test in enumerate(self.tests)
        )
        return (
            f"def {self.make}(x: Any) -> int:\n{self.compiler.prologue('x')}    m = 0\n{sets}"
            f"    if type(x) in _KEYED:\n        if len({self.cache}) >= {MEMO_LIMIT}:\n"
            f"            {self.cache}.clear()\n        {self.cache}[x] = m\n    return m\n"
        )


_KEYED: Final = frozenset({str, int, type(None)})


def _fields_of(node: Any) -> frozenset[str]:
    """The (canonical) fields a condition tree reads; two or more for what a memo can't take."""
    if isinstance(node, sc.ConditionAND | sc.ConditionOR | sc.ConditionNOT):
        return frozenset().union(*(_fields_of(arg) for arg in node.args))
    if isinstance(node, sc.ConditionFieldEqualsValueExpression):
        value = node.value
        if isinstance(value, st.SigmaFieldReference):
            return frozenset({canonical_field(node.field), canonical_field(value.field)})
        if isinstance(value, st.SigmaTimestampPart):
            return _UNMEMOISED
        return frozenset({canonical_field(node.field)})
    return _UNMEMOISED


_UNMEMOISED: Final = frozenset({"", "?"})


def _memo_fields(trees: list[Any]) -> frozenset[str]:
    """The fields at least `MEMO_AT` leaves of ``trees`` test (a set of values counts each)."""
    counts: dict[str, int] = {}
    stack = list(trees)
    while stack:
        node = stack.pop()
        if isinstance(node, sc.ConditionAND | sc.ConditionOR | sc.ConditionNOT):
            stack.extend(node.args)
        elif isinstance(node, sc.ConditionFieldEqualsValueExpression):
            value = node.value
            weight = len(value.values) if isinstance(value, st.SigmaExpansion) else 1
            name = canonical_field(node.field)
            counts[name] = counts.get(name, 0) + weight
    return frozenset(name for name, count in counts.items() if count >= MEMO_AT)


MEMO_AT: Final = 4


def _as_contains(value: Any) -> Any:
    """A keyword matches anywhere in a field: wrap plain strings in wildcards."""
    if isinstance(value, st.SigmaString) and not isinstance(value, st.SigmaCasedString):
        parts = list(value.s)
        star = st.SpecialChars.WILDCARD_MULTI
        if not parts or parts[0] is not star:
            parts.insert(0, star)
        if parts[-1] is not star:
            parts.append(star)
        wrapped = st.SigmaString(value.original)
        wrapped.s = parts
        return wrapped
    return value


def _num(value: Any) -> float:
    if value is None:  # the usual case for a field an event lacks: no exception to pay for
        return _NAN
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return _NAN


_NAN = float("nan")


def _time_part(value: Any, part: str) -> int | None:
    """The ``minute``/``hour``/``day`` (of the month)/``week`` (ISO)/``month``/``year`` of a
    timestamp (a datetime, or ISO 8601 text); None for anything else."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if part == "week":
        return value.isocalendar().week
    return int(getattr(value, part))


def _in_net(value: Any, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in network
    except ValueError:
        return False


def _namespace(compiler: _Compiler) -> dict[str, Any]:
    return {
        "_num": _num,
        "_in_net": _in_net,
        "_time_part": _time_part,
        "_EMPTY": "",
        "_KEYED": _KEYED,
        "Any": Any,
        **compiler.constants,
    }


def compile_detection(tree: Any) -> tuple[Matcher, frozenset[str], str]:
    """Compile a pySigma condition tree: (matcher, canonical fields read, the expression)."""
    compiler = _Compiler()
    expression = compiler.node(tree)
    source = f"def _match(V, L):\n{compiler.prologue()}    return bool({expression})\n"
    namespace = _namespace(compiler)
    exec(compile(source, "<sigma-rule>", "exec"), namespace)  # noqa: S102 - generated from parsed values
    return namespace["_match"], frozenset(compiler.fields), expression


_MASK: Final = re.compile(r"_m\d+")


def _masks_only(node: ast.expr) -> bool:
    """Whether a generated test reads nothing but memo masks (and whole numbers)."""
    for part in ast.walk(node):
        if isinstance(part, ast.Name) and _MASK.fullmatch(part.id) is None:
            return False
        if isinstance(part, ast.Call | ast.Attribute | ast.Subscript | ast.Compare):
            return False
        if isinstance(part, ast.Constant) and part.value.__class__ is not int:
            return False
    return True


def _split(test: str) -> tuple[str | None, str | None]:
    """(the part of ``test`` that reads masks alone, the rest): an "or" of both when both are
    given. The tests are pure, so the terms of an "or" may be taken in any order."""
    node = ast.parse(test, mode="eval").body
    if _masks_only(node):
        return test, None
    if not (isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or)):
        return None, test
    mine = [term for term in node.values if _masks_only(term)]
    rest = [term for term in node.values if not _masks_only(term)]
    if not mine:
        return None, test

    def joined(terms: list[ast.expr]) -> str:
        return "(" + ast.unparse(ast.BoolOp(ast.Or(), terms) if len(terms) > 1 else terms[0]) + ")"

    return joined(mine), joined(rest)


def _verdicts(compiler: _Compiler, tests: list[str]) -> str:
    """The end of `compile_all`'s function: the indexes of the tests that hold, as a tuple.

    Tests that read only memo masks (most of a pack: an attack tool's user agent, a probed
    path, a login's outcome) are answered from the masks: the answer for each combination of
    masks is remembered (past `MEMO_LIMIT` combinations the memory starts again), so an event
    costs one lookup for all of them; the other tests (and the other terms of a test that is an
    "or") each set a bit of the key."""
    masks = [memo.mask for memo in compiler.memos.values()]
    parts = [_split(test) for test in tests]
    if not masks or sum(mine is not None for mine, _ in parts) < 2:
        body = "".join(f"    if {test}:\n        m.append({i})\n" for i, test in enumerate(tests))
        return f"    m: list[int] = []\n{body}    return tuple(m)\n"
    others: list[str] = []
    verdicts: list[str] = []
    for index, (mine, rest) in enumerate(parts):
        holds = [] if mine is None else [mine]
        if rest is not None:
            bit = 1 << len(others)
            others.append(f"    if {rest}:\n        x |= {bit}\n")
            holds.append(f"(x & {bit})")
        verdicts.append(f"    if {' or '.join(holds)}:\n        m.append({index})\n")
    key = f"({', '.join(masks)}, x)"
    cache = compiler.const({}, "dict[tuple[int, ...], tuple[int, ...]]")
    params = ", ".join(f"{mask}: int" for mask in [*masks, "x"])
    make = (
        f"def _verdict({params}) -> tuple[int, ...]:\n    m: list[int] = []\n{''.join(verdicts)}"
        f"    if len({cache}) >= {MEMO_LIMIT}:\n        {cache}.clear()\n"
        f"    t = tuple(m)\n    {cache}[{key}] = t\n    return t\n"
    )
    compiler.constants["_verdict_source"] = make
    return (
        f"    x = 0\n{''.join(others)}    m = {cache}.get({key})\n"
        f"    if m is None:\n        m = _verdict({', '.join(masks)}, x)\n    return m\n"
    )


MatchAll = Callable[[dict[str, Any], dict[str, str]], tuple[int, ...]]
"""`compile_all`'s function: ``match_all(record.values, record.lower) -> indexes matched``."""


class Generated:
    """`compile_all`'s generated source, the constants it names (and their types), and the
    fields it reads lower-cased."""

    def __init__(
        self,
        source: str,
        namespace: dict[str, Any],
        kinds: dict[str, str],
        lowered: frozenset[str],
    ) -> None:
        self.source = source
        self.namespace = namespace
        self.kinds = kinds
        self.lowered = lowered

    @property
    def digest(self) -> str:
        """What names this source in a prebuilt module (`apiwatch.detect._pack`)."""
        return hashlib.sha256(self.source.encode()).hexdigest()


def generate(trees: list[Any]) -> Generated:
    """The source of `compile_all`'s function for ``trees`` (see there), not yet compiled."""
    compiler = _Compiler()
    compiler.memo_fields = _memo_fields(trees)
    tests = [compiler.node(tree) for tree in trees]
    memos = "".join(memo.function() for memo in compiler.memos.values())
    body = _verdicts(compiler, tests)
    source = (
        f"{memos}def _match_all(V: dict[str, Any], L: dict[str, str]) -> tuple[int, ...]:\n"
        f"{compiler.prologue()}{compiler.memo_reads()}{body}"
    )
    namespace = _namespace(compiler)
    reads = [*compiler.reads, *(r for memo in compiler.memos.values() for r in memo.compiler.reads)]
    return Generated(
        namespace.pop("_verdict_source", "") + source,
        namespace,
        compiler.kinds,
        frozenset(name for kind, name in reads if kind == "L"),
    )


def compile_all(trees: list[Any]) -> tuple[MatchAll, frozenset[str]]:
    """One function matching every tree at once: each field is read once per event, and the
    result is the tuple of the indexes of the trees that matched, in order. This is the
    engine's hot path. Also
    returns the fields it reads lower-cased (the only ones `to_record` needs to lower).

    A field many tests read (`_memo_fields`: the path, the user agent, the status code ...)
    has its tests evaluated once per distinct value (`_FieldMemo`): the parts of the trees
    that read that field alone become bits of a mask remembered per value. The trees that
    read masks alone are then settled together (`_verdicts`), once per combination of masks.

    When the source is the one a prebuilt module was generated from (`apiwatch.detect._pack`,
    the built-in pack's: `prebuilt`), that module's function is bound to the constants instead,
    so a compiled build (``make compile``) runs it as machine code; any other pack is compiled
    here, from the same source."""
    generated = generate(trees)
    match_all = prebuilt(generated)
    if match_all is None:
        namespace = generated.namespace
        code = compile(generated.source, "<sigma-rules>", "exec")
        exec(code, namespace)  # noqa: S102 - generated from parsed values
        match_all = namespace["_match_all"]
    return match_all, generated.lowered


def prebuilt(generated: Generated) -> MatchAll | None:
    """The prebuilt module's function bound to ``generated``'s constants, when that module was
    generated from the same source; else None."""
    try:
        from apiwatch.detect import _pack  # noqa: PLC0415 - absent until generated
    except ImportError:  # pragma: no cover - the module is committed
        return None
    if generated.digest != _pack.DIGEST:
        return None
    return _pack.bind(generated.namespace)


def module_source(generated: Generated) -> str:
    """``generated`` as a module that `prebuilt` can use: its functions, as they are, nested in
    ``bind``, which takes the constants (typed, so that a compiled build reads them natively)."""
    names = sorted(generated.namespace, key=lambda name: (len(name), name))
    binds = "".join(
        f"    {name}: {generated.kinds.get(name, _KINDS.get(name, 'Any'))} = ns[{name!r}]\n"
        for name in names
        if name not in _UNBOUND
    )
    lines = generated.source.splitlines(True)
    body = "".join(f"    {line}" if line.strip() else line for line in lines)
    return (
        f"{_MODULE_HEAD}\nDIGEST: Final = {generated.digest!r}\n\n\n"
        "def bind(ns: dict[str, Any]) -> MatchAll:\n"
        '    """The matcher, bound to the constants `compile_all` made for its source."""\n'
        f'    _EMPTY: str = ""\n{binds}{body}    return _match_all\n'
    )


_KINDS: Final = {"_KEYED": "frozenset[type]"}
_UNBOUND: Final = frozenset({"_EMPTY", "Any"})
_MODULE_HEAD: Final = '''"""The built-in pack's matcher, generated ahead of time: do not edit.

Written by ``python -m apiwatch.detect._prebuild`` (``make pack-matcher``) from the source
`apiwatch.detect.matcher.compile_all` generates for the built-in pack; `compile_all` binds it
instead of compiling that source at run time when the digests agree, so that the compiled build
(``make compile``) runs the built-in pack's matcher as machine code. A test fails when the pack
changed and this file was not written again.
"""

# ruff: noqa
from typing import Any, Final

from apiwatch.detect.matcher import MatchAll
'''
