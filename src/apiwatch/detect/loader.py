"""Loading rule files: Sigma YAML (detections and correlations) and apiwatch extensions.

Each ``.yml``/``.yaml`` file may hold several YAML documents. A document with ``detection`` is a
Sigma detection rule, one with ``correlation`` a Sigma correlation rule (both parsed by pySigma);
one with a top-level ``apiwatch`` mapping whose ``type`` is ``baseline``, ``silence`` or
``replay`` is an apiwatch extension rule. Any Sigma rule may carry an ``apiwatch``
mapping of options (``suppress``, ``group-by``, ``attack``, ``extent``).

Problems never stop loading: each is a `Problem` naming the file, the line and the key.
Unsupported rules (valid Sigma this engine cannot evaluate) are reported with the reason and left
out. `RuleSet.problems` holds them all; ``apiwatch rules lint`` prints them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sigma import conditions as sc
from sigma import types as st
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaTimespanError
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from apiwatch.detect.behaviour import CREDENTIALS
from apiwatch.detect.fields import canonical_field, field_known
from apiwatch.detect.matcher import Unsupported, compile_detection
from apiwatch.detect.rules import (
    BaselineRule,
    CorrelationRule,
    DetectionRule,
    Problem,
    ReplayRule,
    Rule,
    RuleMeta,
    SilenceRule,
)
from apiwatch.model.alert import SEVERITIES
from apiwatch.model.duration import parse_duration
from apiwatch.model.errors import ConfigError

__all__ = [
    "RuleSet",
    "builtin_dir",
    "load_rules",
    "placeholder_values",
    "sigmahq_dir",
]

_OPS = {"gte", "gt", "lte", "lt", "eq", "neq"}
_STREAMING_OPS = {"gte", "gt", "eq"}
_UPPER_OPS = frozenset({"lt", "lte"})
_MODIFIER_ALIASES = {"utf16le": "wide"}  # the specification's name -> pySigma's
Placeholders = Mapping[str, Sequence[str]]
"""``expand`` placeholder name (without ``%``) -> the values it stands for."""
_SIGMA_OPTIONS = frozenset({"attack", "extent", "group-by", "share", "suppress"})
_EXTENSION_OPTIONS = frozenset(
    {
        "type",
        "attack",
        "extent",
        "rules",
        "of",
        "measure",
        "field",
        "timespan",
        "baseline",
        "warmup",
        "condition",
        "traits",
        "settle",
        "group-by",
        "interval",
        "min-events",
    }
)
_CONDITION_OPTIONS = frozenset({"minimum", "factor", "minimum-baseline", "min-events"})


def builtin_dir() -> Path:
    """The rule pack shipped with apiwatch."""
    return Path(str(resources.files("apiwatch.detect") / "rules" / "builtin"))


def sigmahq_dir() -> Path:
    """SigmaHQ's web server and proxy rules, shipped as an optional pack (DRL 1.1)."""
    return Path(str(resources.files("apiwatch.detect") / "rules" / "sigmahq"))


@dataclass
class RuleSet:
    """Loaded rules by key, and every problem found while loading them."""

    rules: dict[str, Rule] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    documents: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "error"]

    @property
    def unsupported(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "unsupported"]

    def add(self, rule: Rule, problems: list[Problem]) -> None:
        key = rule.meta.key
        if key in self.rules:
            meta = rule.meta
            problems.append(Problem(meta.path, meta.line, "name", f"duplicate rule {key!r}"))
            return
        self.rules[key] = rule

    def merge(self, other: RuleSet) -> None:
        for rule in other.rules.values():
            self.add(rule, self.problems)
        self.problems.extend(other.problems)
        self.files += other.files
        self.documents += other.documents


def _rule_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if (
                    child.suffix in {".yml", ".yaml"}
                    and "tests" not in child.relative_to(path).parts
                ):
                    yield child
        else:
            yield path


def placeholder_values(data: object, where: str) -> dict[str, list[str]]:
    """``expand`` placeholder values as configured (``name = value`` or ``name = [values]``,
    strings or numbers), checked; `ConfigError` naming ``where`` and the name otherwise."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of placeholder names to values")
    out: dict[str, list[str]] = {}
    for name, values in data.items():
        items = values if isinstance(values, list) else [values]
        if not items or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in items
        ):
            raise ConfigError(f"{where}: {name}: give a string or number, or a list of them")
        out[str(name)] = [str(v) for v in items]
    return out


def load_rules(paths: Iterable[str | Path], placeholders: Placeholders | None = None) -> RuleSet:
    """Load every rule file under ``paths`` (files or directories, ``tests/`` skipped).

    ``placeholders`` gives the values of ``expand`` modifiers' ``%name%`` placeholders; a rule
    using one not given is reported unsupported. Sigma filter documents (``filter:``) found
    anywhere in ``paths`` apply to the detection rules they name.
    """
    ruleset = RuleSet()
    docs: list[_Doc] = []
    for path in _rule_files(paths):
        ruleset.files += 1
        docs.extend(_read_file(path, ruleset))
    context = _Context(dict(placeholders or {}), [])
    for doc in docs:
        if _is_filter(doc.data):
            _build_filter(doc, context)
            ruleset.problems.extend(doc.problems)
    for doc in docs:
        if _is_filter(doc.data):
            continue
        rule = _build(doc, context)
        if rule is not None:
            ruleset.add(rule, doc.problems)
        ruleset.problems.extend(doc.problems)
    _check_filters(ruleset, context)
    _check_references(ruleset)
    return ruleset


@dataclass
class _Context:
    """What every document's build may use: placeholder values and the filters found."""

    placeholders: dict[str, Sequence[str]]
    filters: list[tuple[_Doc, SigmaFilter]]


# libyaml's parser when PyYAML was built with it: the same documents and marks as the
# pure-Python one, parsed about six times faster (rule loading is most of a scan's start-up).
_FAST_LOADER: type[yaml.CSafeLoader] | None = getattr(yaml, "CSafeLoader", None)


def _parse(text: str) -> tuple[list[Any], list[dict[tuple[str, ...], int]]]:
    """A file's YAML documents and, per document, key path -> 1-based line of the key.

    One libyaml pass builds both when it can; text it refuses is parsed again by the
    pure-Python parser, whose `yaml.YAMLError` (raised from here) is the one reported.
    """
    if _FAST_LOADER is not None:
        try:
            return _composed(text, _FAST_LOADER)
        except yaml.YAMLError:
            pass
    return list(yaml.safe_load_all(text)), _positions(text)


def _composed(
    text: str, loader_class: type[yaml.CSafeLoader]
) -> tuple[list[Any], list[dict[tuple[str, ...], int]]]:
    """`_parse` in one pass: each document composed once, its key lines read from the nodes,
    then constructed from them (what ``safe_load_all`` does after composing)."""
    loader = loader_class(text)
    documents: list[Any] = []
    positions: list[dict[tuple[str, ...], int]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            table: dict[tuple[str, ...], int] = {}
            _walk(node, (), table)
            positions.append(table)
            documents.append(loader.construct_document(node))
    finally:
        loader.dispose()
    return documents, positions


def _positions(text: str) -> list[dict[tuple[str, ...], int]]:
    """Per YAML document: key path -> 1-based line of the key."""
    out: list[dict[tuple[str, ...], int]] = []
    try:
        for node in yaml.compose_all(text, Loader=yaml.SafeLoader):
            table: dict[tuple[str, ...], int] = {}
            _walk(node, (), table)
            out.append(table)
    except yaml.YAMLError:
        return out
    return out


def _walk(node: Any, prefix: tuple[str, ...], table: dict[tuple[str, ...], int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, str(key.value))
            table[path] = key.start_mark.line + 1
            _walk(value, path, table)


class _Doc:
    """One YAML document being turned into a rule, with its problems."""

    def __init__(self, path: Path, data: dict[str, Any], lines: dict[tuple[str, ...], int]):
        self.path = str(path)
        self.data = data
        self.lines = lines
        self.problems: list[Problem] = []
        self.name = str(data.get("name") or data.get("id") or "")

    def line(self, *keys: str) -> int:
        while keys:
            if keys in self.lines:
                return self.lines[keys]
            keys = keys[:-1]
        return min(self.lines.values(), default=1)

    def problem(self, keys: tuple[str, ...], message: str, kind: str = "error") -> None:
        self.problems.append(
            Problem(self.path, self.line(*keys), ".".join(keys), message, kind, self.name)
        )


def _read_file(path: Path, ruleset: RuleSet) -> list[_Doc]:
    out: list[_Doc] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        ruleset.problems.append(Problem(str(path), 0, "", f"cannot read: {exc}"))
        return out
    try:
        documents, positions = _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        ruleset.problems.append(Problem(str(path), line, "", f"invalid YAML: {problem}"))
        return out
    for index, data in enumerate(documents):
        if data is None:
            continue
        ruleset.documents += 1
        lines = positions[index] if index < len(positions) else {}
        if not isinstance(data, dict):
            ruleset.problems.append(Problem(str(path), 1, "", "a rule must be a YAML mapping"))
            continue
        out.append(_Doc(path, data, lines))
    return out


def _is_filter(data: dict[str, Any]) -> bool:
    return "filter" in data and "detection" not in data and "correlation" not in data


def _build(doc: _Doc, context: _Context) -> Rule | None:
    data = doc.data
    # An extension may sit in a Sigma document (so Sigma tooling accepts the file): its
    # ``apiwatch.type`` says what apiwatch runs; the Sigma part is what other tools see.
    if isinstance(data.get("apiwatch"), dict) and "type" in data["apiwatch"]:
        return _build_extension(doc)
    if "detection" in data:
        return _build_sigma(doc, context, detection=True)
    if "correlation" in data:
        return _build_sigma(doc, context, detection=False)
    doc.problem((), "not a rule: no 'detection', 'correlation', 'filter' or 'apiwatch.type' key")
    return None


def _build_filter(doc: _Doc, context: _Context) -> None:
    """A Sigma filter: its ``filter.condition`` is ANDed to each rule ``filter.rules`` names."""
    try:
        parsed = SigmaFilter.from_dict(_sigma_plain(doc.data), collect_errors=True)
    except (SigmaError, ValueError, TypeError, AttributeError) as exc:
        doc.problem(("filter",), f"invalid Sigma filter: {exc}")
        return
    if parsed.errors:
        doc.problem(
            ("filter",), "invalid Sigma filter: " + "; ".join(str(e) for e in parsed.errors)
        )
        return
    context.filters.append((doc, parsed))


def _check_filters(ruleset: RuleSet, context: _Context) -> None:
    """A filter naming no loaded detection rule is an error: it would filter nothing."""
    names = {}
    for key, rule in ruleset.rules.items():
        names[rule.meta.id] = names[key] = rule
    for doc, parsed in context.filters:
        refs = parsed.filter.rules
        for ref in refs if isinstance(refs, list) else []:
            target = names.get(ref.reference)
            if not isinstance(target, DetectionRule):
                what = "unknown rule" if target is None else "a rule that is not a detection"
                message = f"filter names {what} {ref.reference!r}"
                ruleset.problems.append(
                    Problem(doc.path, doc.line("filter", "rules"), "filter.rules", message)
                )


def _meta(doc: _Doc, options: dict[str, Any]) -> RuleMeta | None:
    data = doc.data
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        doc.problem(("title",), "a rule needs a title")
        return None
    rule_id = str(data.get("id") or "")
    name = str(data.get("name") or "")
    if not rule_id and not name:
        doc.problem(("id",), "a rule needs an id or a name")
        return None
    level = str(data.get("level") or "medium")
    if level not in SEVERITIES:
        doc.problem(("level",), f"level {level!r} is not one of {', '.join(SEVERITIES)}")
        return None
    tags = data.get("tags") or []
    extent = options.get("extent") or []
    return RuleMeta(
        id=rule_id or name,
        name=name,
        title=title.strip(),
        level=level,
        path=doc.path,
        line=doc.line("title"),
        refs_line=doc.lines.get(("correlation", "rules"), doc.lines.get(("apiwatch", "rules"), 0)),
        description=str(data.get("description") or "").strip(),
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        attack=str(options.get("attack") or ""),
        extent=tuple(str(e) for e in extent) if isinstance(extent, list) else (),
        author=str(data.get("author") or ""),
        counted=_counted(data),
    )


def _counted(data: dict[str, Any]) -> str:
    """The field a ``value_count`` correlation counts, else ``""``."""
    correlation = data.get("correlation")
    if not isinstance(correlation, dict) or correlation.get("type") != "value_count":
        return ""
    condition = correlation.get("condition")
    field = condition.get("field") if isinstance(condition, dict) else None
    return field if isinstance(field, str) else ""


def _options(doc: _Doc) -> dict[str, Any] | None:
    options = doc.data.get("apiwatch", {})
    if not isinstance(options, dict):
        doc.problem(("apiwatch",), "'apiwatch' must be a mapping of options")
        return None
    return options


def _unknown_options(doc: _Doc, options: dict[str, Any], known: frozenset[str], *keys: str) -> None:
    """Report option names the loader does not know (a typo must not silently mean a default)."""
    for name in options:
        if name not in known:
            listed = ", ".join(sorted(known))
            doc.problem(("apiwatch", *keys, str(name)), f"unknown option {name!r} ({listed})")


def _sigma_keys(section: str, errors: list[Any]) -> tuple[str, ...]:
    """The key pySigma's complaint is about, where it can be told."""
    if any(isinstance(error, SigmaTimespanError) for error in errors):
        return (section, "timespan")
    return (section,)


def _sigma_plain(data: dict[str, Any]) -> dict[str, Any]:
    """The document as pySigma reads it: without apiwatch's options, and with the modifier
    names of the specification pySigma spells otherwise (``utf16le`` is its ``wide``)."""
    plain = {k: v for k, v in data.items() if k != "apiwatch"}
    for section in ("detection", "filter"):
        if isinstance(plain.get(section), dict):
            plain[section] = _alias_modifiers(plain[section])
    return plain


def _alias_modifiers(node: Any) -> Any:
    if isinstance(node, dict):
        return {_alias_key(k): _alias_modifiers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_alias_modifiers(item) for item in node]
    return node


def _alias_key(key: Any) -> Any:
    if not isinstance(key, str) or "|" not in key:
        return key
    name, *modifiers = key.split("|")
    return "|".join([name, *(_MODIFIER_ALIASES.get(m, m) for m in modifiers)])


def _split_range(plain: dict[str, Any]) -> tuple[str, float] | None:
    """A range condition (``gt: 10`` with ``lte: 100``): pySigma takes one bound, so the upper
    one is taken out here and returned."""
    correlation = plain.get("correlation")
    if not isinstance(correlation, dict):
        return None
    condition = correlation.get("condition")
    if not isinstance(condition, dict):
        return None
    bounds = [op for op in condition if op in _UPPER_OPS]
    if len(bounds) != 1 or len([op for op in condition if op not in {"field", "percentile"}]) < 2:
        return None
    op = bounds[0]
    rest = {k: v for k, v in condition.items() if k != op}
    plain["correlation"] = {**correlation, "condition": rest}
    return op, float(condition[op])


def _build_sigma(  # noqa: PLR0911 - one per problem
    doc: _Doc, context: _Context, *, detection: bool
) -> Rule | None:
    options = _options(doc)
    if options is None:
        return None
    _unknown_options(doc, options, _SIGMA_OPTIONS)
    meta = _meta(doc, options)
    if meta is None:
        return None
    plain = _sigma_plain(doc.data)
    try:
        upper = None if detection else _split_range(plain)
    except (TypeError, ValueError):
        doc.problem(("correlation", "condition"), "a condition's bounds must be numbers")
        return None
    section = "detection" if detection else "correlation"
    try:
        kind = SigmaRule if detection else SigmaCorrelationRule
        parsed = kind.from_dict(plain, collect_errors=True)
    except (SigmaError, ValueError, TypeError, AttributeError) as exc:
        doc.problem(_sigma_keys(section, [exc]), f"invalid Sigma: {exc}")
        return None
    if parsed.errors:
        message = "invalid Sigma: " + "; ".join(str(e) for e in parsed.errors)
        doc.problem(_sigma_keys(section, parsed.errors), message)
        return None
    if isinstance(parsed, SigmaRule):
        return _detection(doc, meta, _filtered(parsed, context), options, context)
    if isinstance(parsed, SigmaCorrelationRule):
        rule = _correlation(doc, meta, parsed, upper)
        if isinstance(rule, CorrelationRule) and "share" in options:
            rule.share = _share(doc, rule, options["share"])
            return rule if rule.share is not None else None
        return rule
    doc.problem((), f"unexpected rule type {type(parsed).__name__}")
    return None


def _field_keys(doc: _Doc, field_name: str | None) -> tuple[str, ...]:
    """The key path of the detection item naming ``field_name`` (modifiers aside)."""
    for keys in doc.lines:
        if keys[0] == "detection" and field_name and keys[-1].split("|")[0] == field_name:
            return keys
    return ("detection",)


def _filtered(parsed: SigmaRule, context: _Context) -> SigmaRule:
    """``parsed`` with every filter that names it applied (pySigma ANDs the filter's condition)."""
    for _doc, sigma_filter in context.filters:
        applied = sigma_filter.apply_on_rule(parsed)
        if isinstance(applied, SigmaRule):
            parsed = applied
    return parsed


def _expand(node: Any, placeholders: dict[str, Sequence[str]]) -> None:
    """Replace ``expand`` placeholders in the tree's values by the values configured for them
    (each may hold Sigma wildcards); one not configured raises `Unsupported`."""
    if isinstance(node, sc.ConditionFieldEqualsValueExpression):
        value = node.value
        if isinstance(value, st.SigmaString) and value.contains_placeholder():

            def values(placeholder: st.Placeholder) -> Iterator[st.SigmaString]:
                if placeholder.name not in placeholders:
                    reason = (
                        f"placeholder %{placeholder.name}% has no values ([placeholders] in "
                        "apiwatch.toml, or scan --placeholders)"
                    )
                    raise Unsupported(reason, node.field)
                return (st.SigmaString(v) for v in placeholders[placeholder.name])

            expanded = value.replace_placeholders(values)
            node.value = st.SigmaExpansion(list(expanded))
        return
    for arg in getattr(node, "args", ()):
        _expand(arg, placeholders)


def _detection(
    doc: _Doc, meta: RuleMeta, parsed: SigmaRule, options: dict[str, Any], context: _Context
) -> DetectionRule | None:
    conditions = parsed.detection.parsed_condition
    if len(conditions) != 1:
        doc.problem(
            ("detection", "condition"), "cannot evaluate: more than one condition", "unsupported"
        )
        return None
    try:
        tree = conditions[0].parsed
        _expand(tree, context.placeholders)
        matcher, fields, expression = compile_detection(tree)
    except Unsupported as exc:
        doc.problem(_field_keys(doc, exc.field), f"cannot evaluate: {exc}", "unsupported")
        return None
    except SigmaError as exc:
        doc.problem(("detection", "condition"), f"invalid condition: {exc}")
        return None
    group_by = options.get("group-by", ["source.ip"])
    try:
        suppress = parse_duration(options.get("suppress", "10m"))
    except ValueError as exc:
        doc.problem(("apiwatch", "suppress"), str(exc))
        return None
    if not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by):
        doc.problem(("apiwatch", "group-by"), "group-by must be a list of field names")
        return None
    return DetectionRule(
        meta=meta,
        matcher=matcher,
        fields=fields,
        expression=expression,
        tree=tree,
        group_by=tuple(canonical_field(g) for g in group_by),
        suppress=suppress,
    )


def _correlation(  # noqa: PLR0911 - one per problem
    doc: _Doc, meta: RuleMeta, parsed: SigmaCorrelationRule, upper: tuple[str, float] | None
) -> Rule | None:
    kind = parsed.type.name.lower()
    supported = {
        "event_count",
        "value_count",
        "value_sum",
        "value_avg",
        "value_percentile",
        "value_median",
        "temporal",
        "temporal_ordered",
    }
    if kind not in supported:
        doc.problem(
            ("correlation", "type"), f"cannot evaluate correlation type {kind!r}", "unsupported"
        )
        return None
    condition = parsed.condition
    op, count, fieldref, rank = "gte", 1.0, "", 50.0
    if kind.startswith("temporal"):
        op, count = "gte", float(len(parsed.rules or []))
    elif isinstance(condition, SigmaCorrelationCondition):
        op = condition.op.name.lower()
        count = float(condition.count)
        fieldref = condition.fieldref if isinstance(condition.fieldref, str) else ""
        if kind == "value_percentile":
            if condition.percentile is None or not 0 <= condition.percentile <= 100:
                doc.problem(
                    ("correlation", "condition", "percentile"),
                    "value_percentile needs condition.percentile, from 0 to 100",
                )
                return None
            rank = float(condition.percentile)
    if op not in _STREAMING_OPS:
        doc.problem(
            ("correlation", "condition"),
            f"condition {op!r} cannot fire on a stream (use gte, gt or eq)",
            "unsupported",
        )
        return None
    if kind != "event_count" and not kind.startswith("temporal") and not fieldref:
        doc.problem(("correlation", "condition", "field"), f"{kind} needs condition.field")
        return None
    aliases: dict[str, dict[str, str]] = {}
    for alias_name, alias in parsed.aliases.aliases.items():
        aliases[alias_name] = {
            ref.reference: canonical_field(value) for ref, value in alias.mapping.items()
        }
    group_by = tuple(g if g in aliases else canonical_field(g) for g in parsed.group_by or [])
    # Like a detection's, a field apiwatch's events never carry makes the rule unsupported.
    for index, name in enumerate(group_by):
        if name not in aliases and not field_known(name):
            doc.problem(
                ("correlation", "group-by"),
                f"unknown field {parsed.group_by[index]!r}",  # type: ignore[index]
                "unsupported",
            )
            return None
    if fieldref and not field_known(canonical_field(fieldref)):
        doc.problem(
            ("correlation", "condition", "field"), f"unknown field {fieldref!r}", "unsupported"
        )
        return None
    return CorrelationRule(
        meta=meta,
        type=kind,
        refs=tuple(r.reference for r in parsed.rules or []),
        group_by=group_by,
        timespan=float(parsed.timespan.seconds),
        op=op,
        count=count,
        field=canonical_field(fieldref) if fieldref else "",
        aliases=aliases,
        upper=upper,
        percentile=rank,
        generate_refs=bool(parsed.generate),
    )


def _share(doc: _Doc, rule: CorrelationRule, share: Any) -> tuple[str, Any, float] | None:
    """The ``share`` option of a ``value_count`` correlation: ``{field, value, min}``."""
    keys = ("apiwatch", "share")
    if rule.type != "value_count":
        doc.problem(keys, "share needs a value_count correlation")
        return None
    if not isinstance(share, dict) or set(share) != {"field", "value", "min"}:
        doc.problem(keys, "share must be a mapping of field, value and min")
        return None
    minimum = share["min"]
    if not isinstance(minimum, int | float) or isinstance(minimum, bool) or not 0 < minimum <= 1:
        doc.problem((*keys, "min"), "share min must be a number above 0, at most 1")
        return None
    name = canonical_field(str(share["field"]))
    if not field_known(name):
        doc.problem((*keys, "field"), f"unknown field {share['field']!r}", "unsupported")
        return None
    return name, share["value"], float(minimum)


def _sigma_part(data: dict[str, Any]) -> dict[str, Any]:
    """An extension's ``rules`` and ``timespan`` from the Sigma correlation it sits in."""
    correlation = data.get("correlation")
    if not isinstance(correlation, dict):
        return {}
    return {k: correlation[k] for k in ("rules", "timespan") if k in correlation}


def _build_extension(doc: _Doc) -> Rule | None:
    options = {**_sigma_part(doc.data), **doc.data["apiwatch"]}
    meta = _meta(doc, options)
    if meta is None:
        return None
    kind = options.get("type")
    _unknown_options(doc, options, _EXTENSION_OPTIONS)
    if isinstance(options.get("condition"), dict):
        _unknown_options(doc, options["condition"], _CONDITION_OPTIONS, "condition")
    for name in ("timespan", "baseline", "warmup", "interval", "settle"):
        try:
            parse_duration(options.get(name, 1))
        except ValueError as exc:
            doc.problem(("apiwatch", name), str(exc))
            return None
    builder = _EXTENSIONS.get(str(kind))
    if builder is None:
        message = f"unknown apiwatch rule type {kind!r} ({', '.join(_EXTENSIONS)})"
        doc.problem(("apiwatch", "type"), message)
        return None
    try:
        return builder(doc, meta, options)
    except (ValueError, TypeError) as exc:
        doc.problem(("apiwatch",), str(exc))
        return None


def _silence(doc: _Doc, meta: RuleMeta, options: dict[str, Any]) -> SilenceRule:
    return SilenceRule(
        meta=meta,
        group_by=canonical_field(str(options.get("group-by", "service.name"))),
        interval=parse_duration(options.get("interval", "15m")),
        min_events=int(options.get("min-events", 10)),
    )


def _replay(doc: _Doc, meta: RuleMeta, options: dict[str, Any]) -> ReplayRule | None:
    refs = options.get("rules")
    if not isinstance(refs, list) or not refs:
        doc.problem(("apiwatch", "rules"), "a replay rule needs 'rules': the credential's uses")
        return None
    group_by = canonical_field(str(options.get("group-by", "labels.token_id")))
    if group_by not in CREDENTIALS:
        doc.problem(
            ("apiwatch", "group-by"),
            f"a replay rule groups by a credential ({', '.join(CREDENTIALS)})",
        )
        return None
    return ReplayRule(
        meta=meta,
        refs=tuple(str(r) for r in refs),
        group_by=group_by,
        timespan=parse_duration(options.get("timespan", "30m")),
    )


def _baseline(doc: _Doc, meta: RuleMeta, options: dict[str, Any]) -> BaselineRule | None:
    refs = options.get("rules")
    if not isinstance(refs, list) or not refs:
        doc.problem(("apiwatch", "rules"), "a baseline rule needs 'rules': the events it measures")
        return None
    measure = str(options.get("measure", "event_count"))
    if measure not in {"event_count", "value_count", "ratio", "suspect_sources"}:
        doc.problem(("apiwatch", "measure"), f"unknown measure {measure!r}")
        return None
    field_name = canonical_field(str(options.get("field", "")))
    if measure == "value_count" and not field_name:
        doc.problem(("apiwatch", "field"), "value_count needs 'field'")
        return None
    of = options.get("of") or []
    if measure == "ratio" and not of:
        doc.problem(("apiwatch", "of"), "ratio needs 'of': the rules of the denominator")
        return None
    condition = options.get("condition") or {}
    return BaselineRule(
        meta=meta,
        refs=tuple(str(r) for r in refs),
        measure=measure,
        field=field_name,
        of=tuple(str(r) for r in of),
        timespan=parse_duration(options.get("timespan", "10m")),
        baseline=parse_duration(options.get("baseline", "2h")),
        minimum=float(condition.get("minimum", 1)),
        factor=float(condition.get("factor", 3)),
        minimum_baseline=float(condition.get("minimum-baseline", 1)),
        min_events=int(condition.get("min-events", 0)),
        warmup=parse_duration(options.get("warmup", "30m")),
        settle=parse_duration(options.get("settle", "3m")),
    )


_EXTENSIONS: dict[str, Callable[[_Doc, RuleMeta, dict[str, Any]], Rule | None]] = {
    "baseline": _baseline,
    "silence": _silence,
    "replay": _replay,
}


def _check_references(ruleset: RuleSet) -> None:
    # Until nothing changes: a rule left out for its reference takes its referrers with it.
    dropped = True
    while dropped:
        dropped = False
        by_id = {rule.meta.id: key for key, rule in ruleset.rules.items()}
        for key, rule in list(ruleset.rules.items()):
            if isinstance(rule, CorrelationRule | BaselineRule | ReplayRule):
                dropped |= not _resolve_refs(ruleset, key, rule, by_id)
    keep = {
        ref
        for rule in ruleset.rules.values()
        if isinstance(rule, CorrelationRule) and rule.generate_refs
        for ref in rule.refs
    }
    for rule in ruleset.rules.values():
        if isinstance(rule, CorrelationRule | BaselineRule | ReplayRule):
            refs = rule.refs + (rule.of if isinstance(rule, BaselineRule) else ())
            for ref in refs:
                target = ruleset.rules.get(ref)
                if isinstance(target, DetectionRule) and ref not in keep:
                    target.generate = False  # a correlation's own finding is worth an alert


def _resolve_refs(
    ruleset: RuleSet,
    key: str,
    rule: CorrelationRule | BaselineRule | ReplayRule,
    by_id: dict[str, str],
) -> bool:
    """Resolve a rule's references to rule keys; False (rule left out) when one is unknown."""
    refs = rule.refs + (rule.of if isinstance(rule, BaselineRule) else ())
    resolved = []
    for ref in refs:
        target = ref if ref in ruleset.rules else by_id.get(ref)
        if target is None or target not in ruleset.rules:
            meta = rule.meta
            where = "correlation.rules" if isinstance(rule, CorrelationRule) else "apiwatch.rules"
            message = f"references unknown rule {ref!r}"
            ruleset.problems.append(
                Problem(meta.path, meta.refs_line or meta.line, where, message, "error", key)
            )
            del ruleset.rules[key]
            return False
        resolved.append(target)
    _resolve(rule, resolved)
    return True


def _resolve(rule: CorrelationRule | BaselineRule | ReplayRule, resolved: list[str]) -> None:
    if isinstance(rule, ReplayRule):
        rule.refs = tuple(resolved)
    elif isinstance(rule, CorrelationRule):
        mapping = dict(zip(rule.refs, resolved, strict=True))
        rule.refs = tuple(resolved)
        rule.aliases = {
            alias: {mapping.get(ref, ref): value for ref, value in fields.items()}
            for alias, fields in rule.aliases.items()
        }
    else:
        count = len(rule.refs)
        rule.refs, rule.of = tuple(resolved[:count]), tuple(resolved[count:])
