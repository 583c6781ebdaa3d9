"""``apiwatch simulate`` on the command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from apiwatch.cli.simulate import simulate
from apiwatch.simulate import GroundTruth
from tests.reliability.serving import free_port
from tests.simulate.conftest import served


def test_help_lists_the_options_and_attack_types() -> None:
    """--help documents every option and names the attack types."""
    result = CliRunner().invoke(simulate, ["--help"])
    assert result.exit_code == 0
    for word in (
        "--seed",
        "--out",
        "--scale",
        "--lines",
        "--attacks",
        "--replay",
        "--start",
        "distributed_credential_stuffing",
        "truth.json",
    ):
        assert word in result.output


def test_writes_the_three_files_and_summarises_them(tmp_path: Path) -> None:
    """The chosen attacks are written with the seed and start given, and summarised."""
    out = tmp_path / "sim"
    result = CliRunner().invoke(
        simulate,
        [
            "--seed",
            "5",
            "--out",
            str(out),
            "--scale",
            "0.2",
            "--attacks",
            "scanner,brute_force",
            "--no-traps",
            "--start",
            "2027-01-04T09:30:00Z",
        ],
    )
    assert result.exit_code == 0, result.output
    truth = GroundTruth.load(out / "truth.json")
    assert truth.seed == 5 and truth.start.isoformat() == "2027-01-04T09:30:00+00:00"
    assert [a.id for a in truth.attacks] == ["brute_force", "brute_force_multi_ip", "scanner"]
    assert not truth.traps
    lines = (out / "access.log").read_text().count("\n")
    assert lines == truth.counts["shop_requests"]
    assert "access.log" in result.output and f"{lines:,}" in result.output
    assert "brute_force_multi_ip" in result.output


def test_unknown_attack_is_a_usage_error(tmp_path: Path) -> None:
    """An unknown attack name exits 2 with one line naming the valid ones."""
    result = CliRunner().invoke(simulate, ["--out", str(tmp_path), "--attacks", "ddos"])
    assert result.exit_code == 2
    assert "unknown ddos" in result.output and "token_reuse" in result.output


def test_bad_start_is_a_usage_error(tmp_path: Path) -> None:
    """A start that is not ISO 8601 exits 2 and says what is expected."""
    result = CliRunner().invoke(simulate, ["--out", str(tmp_path), "--start", "yesterday"])
    assert result.exit_code == 2 and "ISO 8601" in result.output


def test_replay_option_sends_requests_to_the_app(tmp_path: Path) -> None:
    """--replay URL --limit N sends N requests and reports how they were answered."""
    hits: list[str] = []

    async def count(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(status_code=204)

    app = Starlette(routes=[Route("/{rest:path}", count, methods=["GET", "POST"])])
    with served(app) as url:
        result = CliRunner().invoke(
            simulate,
            [
                "--out",
                str(tmp_path),
                "--scale",
                "0.2",
                "--replay",
                url,
                "--limit",
                "25",
            ],
        )
    assert result.exit_code == 0, result.output
    assert len(hits) == 25 and "replayed 25 requests" in result.output


def test_replay_to_a_closed_port_is_one_clear_error(tmp_path: Path) -> None:
    """When the app is not there, the command fails with one line, not a traceback."""
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        simulate,
        [
            "--out",
            str(tmp_path),
            "--scale",
            "0.2",
            "--replay",
            url,
            "--limit",
            "50",
        ],
    )
    assert result.exit_code == 1 and "did not answer" in result.output
    assert "Traceback" not in result.output
