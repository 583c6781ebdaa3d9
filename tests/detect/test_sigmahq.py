"""SigmaHQ's web server and proxy rules: every one loaded or reported, and the named ones firing.

The reference copy lives in ``../shared/sigma`` next to the repository; apiwatch ships the same
files as its optional pack (`apiwatch.detect.sigmahq_dir`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from apiwatch.detect import Engine, RuleSet, load_rules, sigmahq_dir, to_record
from apiwatch.detect.rules import DetectionRule
from apiwatch.model import Event
from tests.detect.helpers import event

SHARED = Path(__file__).parents[2].parent / "shared" / "sigma"
RULE_SUFFIXES = {".yml", ".yaml"}

PATH_TRAVERSAL = "7745c2ea-24a5-4290-b680-04359cb84b35"  # cs-uri-query|contains
RECON_USER_AGENT = "19aa4f58-94ca-45ff-bc34-92e533c0994a"  # cs-user-agent|contains
HACKTOOL_USER_AGENT = "c42a3073-30fb-48ae-8c99-c23ada84b103"  # proxy: c-useragent|contains
JOOMLA_CVE_2023_23752 = "0e1ebc5a-15d0-4bf6-8199-b2535397433a"  # cs-method + contains|all
SQL_INJECTION = "5513deaf-f49a-46c2-a6c8-3f111b5cb453"  # keywords, not sc-status: 404

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


def rule_files(root: Path) -> dict[str, bytes]:
    """Every rule file under ``root`` by its relative path, with its bytes."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in RULE_SUFFIXES
    }


def documents(root: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of every rule file under ``root``."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix in RULE_SUFFIXES:
            text = path.read_text(encoding="utf-8")
            found.extend(doc for doc in yaml.safe_load_all(text) if doc is not None)
    return found


def roots() -> list[Path]:
    if not SHARED.is_dir():
        pytest.skip(f"the reference SigmaHQ rules are not checked out at {SHARED}")
    return [SHARED, sigmahq_dir()]


@pytest.fixture(scope="module")
def pack() -> RuleSet:
    """The packaged SigmaHQ rules, loaded once."""
    return load_rules([sigmahq_dir()])


def fire(pack: RuleSet, *events: Event) -> set[str]:
    """Keys of the rules that alerted on ``events`` (a fresh engine, no reorder buffer)."""
    engine = Engine(pack, lateness=0)
    engine.feed_all(events)
    engine.flush()
    return {alert.rule for alert in engine.take_alerts()}


def test_the_packaged_rules_are_the_reference_rules() -> None:
    """The packaged pack holds exactly the reference rule files: same relative paths, same
    bytes, and the same license."""
    shared, packaged = roots()
    reference = rule_files(shared)
    assert len(reference) > 100
    assert rule_files(packaged) == reference
    assert (packaged / "LICENSE").read_bytes() == (shared / "LICENSE").read_bytes()


def test_the_pack_ships_its_license_and_readme() -> None:
    """The packaged pack carries SigmaHQ's license notice (DRL 1.1) and a README naming the
    source commit and how to enable the pack."""
    folder = sigmahq_dir()
    license_text = (folder / "LICENSE").read_text(encoding="utf-8")
    assert "Detection Rule License (DRL) 1.1" in license_text
    assert "https://github.com/SigmaHQ/Detection-Rule-License" in license_text
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "8eaafff1f2845a696050e05e72ba1140ee190698" in readme
    assert "DRL" in readme and "--sigmahq" in readme


@pytest.mark.parametrize("which", ["shared", "packaged"])
def test_every_document_is_a_rule_or_a_reported_problem(which: str) -> None:
    """Each file is read and each YAML document becomes a rule or a Problem with a reason: the
    counts add up and every rule id is accounted for, with no errors and no silent skip."""
    root = roots()[0 if which == "shared" else 1]
    ruleset = load_rules([root])
    docs = documents(root)
    assert ruleset.files == len(rule_files(root))
    assert ruleset.documents == len(docs)
    assert len(ruleset.rules) + len(ruleset.problems) == len(docs)
    assert ruleset.errors == []
    for problem in ruleset.problems:
        assert problem.kind == "unsupported"
        assert problem.message.startswith("cannot evaluate: ") and problem.rule
        assert Path(problem.path).is_file() and problem.line > 0
    reported = {problem.rule for problem in ruleset.problems}
    ids = [str(doc["id"]) for doc in docs]
    assert len(set(ids)) == len(ids)
    assert set(ids) == set(ruleset.rules) | reported
    assert not set(ruleset.rules) & reported


def test_loaded_rules_keep_their_authors(pack: RuleSet) -> None:
    """Every loaded SigmaHQ rule keeps its author (the DRL requires crediting it)."""
    for key, rule in pack.rules.items():
        assert rule.meta.author.strip(), key


def sample_events() -> list[Event]:
    return [
        event(0),
        event(
            1,
            ip="2001:db8::7",
            method="POST",
            path="/a/b.php",
            query="x=1&y=%27",
            status=404,
            ua=None,
            user="alice",
            service=None,
        ),
        event(2, ip=None, method="PUT", path=None, status=None, ua="", labels={"route": "/x"}),
        event(3, path="/orders/0123456789abcdef", ua="Nikto/2.5", **{"url.domain": "shop.test"}),
    ]


def test_every_loaded_matcher_runs_on_sample_events(pack: RuleSet) -> None:
    """Each loaded detection rule's compiled matcher evaluates events with missing, empty and
    unusual fields without raising, and returns a bool."""
    detections = [rule for rule in pack.rules.values() if isinstance(rule, DetectionRule)]
    assert len(detections) == len(pack.rules)
    records = [to_record(sample) for sample in sample_events()]
    for rule in detections:
        for record in records:
            assert isinstance(rule.matcher(record.values, record.lower), bool), rule.meta.key


def test_a_benign_request_fires_no_sigmahq_rule(pack: RuleSet) -> None:
    """An ordinary API request from a browser raises no alert from the whole pack."""
    benign = [
        event(0, path="/api/v1/products", query="page=2&sort=price", ua=FIREFOX),
        event(1, method="POST", path="/api/v1/login", status=401, ua=FIREFOX),
        event(2, path="/api/v1/orders/42", status=404, ua=FIREFOX),
    ]
    assert fire(pack, *benign) == set()


def test_path_traversal_rule_fires_on_the_request_target(pack: RuleSet) -> None:
    """SigmaHQ's path traversal rule (cs-uri-query|contains) matches the path and query of the
    request, whichever the traversal is in."""
    in_query = event(0, path="/download", query="file=../../../etc/passwd", ua=FIREFOX)
    in_path = event(1, ip="203.0.113.6", path="/static/../../../etc/shadow", ua=FIREFOX)
    assert PATH_TRAVERSAL in fire(pack, in_query)
    assert PATH_TRAVERSAL in fire(pack, in_path)
    assert PATH_TRAVERSAL not in fire(pack, event(0, path="/docs/../index.html", ua=FIREFOX))


def test_user_agent_rules_fire_through_both_taxonomy_names(pack: RuleSet) -> None:
    """A recon tool's user agent fires the webserver rule naming cs-user-agent, and a hacktool's
    the proxy rule naming c-useragent, case-insensitively."""
    assert RECON_USER_AGENT in fire(pack, event(0, ua="Mozilla/5.00 (Nikto/2.5.0) (Test:0001)"))
    assert RECON_USER_AGENT in fire(pack, event(0, ua="SQLMAP/1.8.11#stable"))
    assert HACKTOOL_USER_AGENT in fire(pack, event(0, ua="Mozilla/5.0 (compatible; MASSCAN)"))
    assert not {RECON_USER_AGENT, HACKTOOL_USER_AGENT} & fire(pack, event(0, ua=FIREFOX))


def test_contains_all_rule_needs_every_value_and_the_method(pack: RuleSet) -> None:
    """The Joomla CVE-2023-23752 rule (cs-method GET, cs-uri-query|contains|all) fires only when
    the request target holds both values and the method is GET."""
    path = "/api/index.php/v1/config/application"
    assert JOOMLA_CVE_2023_23752 in fire(pack, event(0, path=path, query="public=true"))
    assert JOOMLA_CVE_2023_23752 not in fire(pack, event(0, path=path))
    assert JOOMLA_CVE_2023_23752 not in fire(pack, event(0, path="/index.php", query="public=true"))
    posted = event(0, method="POST", path=path, query="public=true")
    assert JOOMLA_CVE_2023_23752 not in fire(pack, posted)


def test_sql_injection_keywords_fire_unless_answered_404(pack: RuleSet) -> None:
    """SigmaHQ's SQL injection rule finds its keywords in the request target, and its
    sc-status: 404 filter keeps a request that found nothing out."""
    query = "q=1%20UNION%20SELECT%20password%20FROM%20users"
    assert SQL_INJECTION in fire(pack, event(0, path="/api/v1/products", query=query))
    assert SQL_INJECTION not in fire(
        pack, event(0, path="/api/v1/products", query=query, status=404)
    )
    assert SQL_INJECTION not in fire(pack, event(0, path="/api/v1/products", query="q=selection"))
