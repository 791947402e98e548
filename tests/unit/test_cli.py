from __future__ import annotations

import importlib.metadata
import io
from typing import Any

import click
import orjson
import pytest
from rich.console import Console

from api.cli import main
from api.client import ClientError
from api.commands import watch
from api.commands.datasources import datasource_rows
from api.commands.ingestions import run_hints
from api.commands.jobs import history_rows, status_fields
from api.commands.output import echo, explain, print_fields, print_json, print_lines, print_table, shown
from tests.support import free_port, run_command

pytestmark = pytest.mark.unit

URL = "http://127.0.0.1:1"


@pytest.mark.parametrize("param", ["since", "=2024-01-01"])
def test_run_refuses_a_param_that_is_not_name_value(param: str) -> None:
    # Nothing listens at this URL: the command must stop before calling the API.
    result = run_command(
        ["ingestion", "run", "orders", "--param", "region=eu", "--param", param],
        {"CONNECTOR_URL": f"http://127.0.0.1:{free_port()}"},
    )
    assert result.returncode == 2, result.stderr
    assert f"'{param}' is not NAME=VALUE" in result.stderr


def _commands(group: click.Group, prefix: str = "connector") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        found.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix} {name}")
    return found


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, command in _commands(main):
        if not (command.help or "").strip():
            missing.append(path)
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not (param.help or "").strip():
                missing.append(f"{path} {param.opts[0]}")
    assert missing == []


def test_version_is_the_package_version() -> None:
    result = run_command(["--version"], {})
    assert result.returncode == 0
    assert result.stdout.strip() == f"connector {importlib.metadata.version('siren-connector-service')}"


def _error(status: int, reason: str, **extra: Any) -> ClientError:
    detail = {"type": "x", "reason": reason, "root_cause": [], "invalid": extra.pop("invalid", [])}
    return ClientError(f"HTTP {status}: {reason}", status, {"error": detail, "status": status, **extra})


def test_a_409_on_datasource_delete_names_the_force_flag() -> None:
    error = _error(409, "datasource [demo] is used by ingestions [x]; delete them first or use ?force=true")
    lines = explain(error, flags={"force": "--force"}, url=URL)
    assert lines == ["error: datasource [demo] is used by ingestions [x]; delete them first or use --force"]


def test_a_409_on_run_while_a_run_is_active_names_follow_and_abort() -> None:
    job = {"_id": "orders", "found": True, "status": {"state": "running", "is_running": True}}
    error = _error(409, "ingestion [orders] already has a running run [r1]", job=job)
    hints = run_hints("orders", error, resume=False)
    assert hints == ["follow it: connector jobs status orders --watch", "or abort it: connector jobs abort orders"]
    lines = explain(error, flags={}, hints=hints, url=URL)
    assert lines[1:] == [f"hint: {hint}" for hint in hints]


def test_a_refused_resume_suggests_a_run_from_the_start() -> None:
    error = _error(409, "nothing to resume: the last run of [orders] is successful")
    assert run_hints("orders", error, resume=True) == ["run it from the start: connector ingestion run orders"]
    assert run_hints("orders", error, resume=False) == []


def test_invalid_entries_are_listed_under_the_error() -> None:
    invalid = [{"entry": "$.ingest.batch_size", "rules": [{"description": "must be at least 1"}]}]
    lines = explain(_error(400, "$.ingest.batch_size: must be at least 1", invalid=invalid), flags={}, url=URL)
    assert lines == ["error: $.ingest.batch_size: must be at least 1", "  $.ingest.batch_size: must be at least 1"]


def test_an_unreachable_service_is_one_error_and_a_hint() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_command(["ingestion", "list"], {"CONNECTOR_URL": url})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"error: cannot reach the connector service at {url}")
    assert lines[1] == f"hint: is the service running there? Set CONNECTOR_URL (now {url})."
    assert result.stdout == ""


RUN = {
    "id": "orders",
    "run_id": "orders-r1",
    "state": "error",
    "is_running": False,
    "start_time": 1_700_000_000_000,
    "end_time": 1_700_000_004_000,
    "count": 12_000,
    "error_count": 3,
    "total": 20_000,
    "trigger": "manual",
    "target": "orders",
    "strategy": "REPLACE",
    "infos": "The job has failed.",
    "error": ["The ingestion [orders] failed.", "connection to server lost after 12000 rows: " + "x" * 200],
    "links": {"errors": "/_siren/connector/jobs/ingestion/orders/_runs/orders-r1/_errors"},
}


def test_history_table_has_one_row_per_run_with_counts_and_durations(capsys: pytest.CaptureFixture[str]) -> None:
    found = {"hits": {"total": 2, "hits": [{"_id": "orders-r1", "_source": {"ingestion": RUN}}]}}
    found["hits"]["hits"].append({"_id": "orders-r0", "_source": {"ingestion": {"state": "queued", "count": 0}}})
    rows = history_rows(found)
    assert [row[0] for row in rows] == ["orders-r1", "orders-r0"]
    assert rows[0][1:2] + rows[0][3:] == ("error", "4.0 s", "12,000", "3", "manual")
    print_table(("RUN", "STATE", "STARTED", "DURATION", "DOCS", "REJECTED", "TRIGGER"), rows)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["RUN", "STATE", "STARTED", "DURATION", "DOCS", "REJECTED", "TRIGGER"]
    assert out[1].startswith("orders-r1  error") and "12,000" in out[1]
    assert out[2].startswith("orders-r0  queued")
    # columns line up: each value starts under its header
    assert out[1].index("4.0 s") == out[0].index("DURATION")


def test_an_empty_list_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(("ID",), [], empty="no datasources")
    assert capsys.readouterr().out == "no datasources\n"


def test_datasource_rows_never_show_a_password() -> None:
    found = {
        "hits": {
            "total": 1,
            "hits": [{"_id": "pg", "_source": {"jdbc": {"url": "jdbc:postgresql://db/x", "username": "reader"}}}],
        }
    }
    assert datasource_rows(found) == [("pg", "jdbc", "jdbc:postgresql://db/x", "reader", None)]


def test_status_fields_tell_counts_duration_rate_and_every_error() -> None:
    fields = dict(status_fields(RUN))
    assert fields["documents"] == "12,000 indexed, 3 rejected, of 20,000 rows"
    assert fields["duration"] == "4.0 s"
    assert fields["rate"] == "3,000 docs/s"
    assert fields["ETA"] is None  # a final run has no ETA
    assert [value for name, value in status_fields(RUN) if name == "error"] == RUN["error"]


def test_summary_is_a_final_state_line_then_the_facts_and_errors_in_full() -> None:
    lines = watch.summary(RUN, resumable=True)
    assert lines[0] == "✗ orders error after 4.0 s: 12,000 documents, 3 rejected, 3,000 docs/s"
    assert f"  error      {RUN['error'][1]}" in lines  # not cut
    assert "  rejected   GET /_siren/connector/jobs/ingestion/orders/_runs/orders-r1/_errors (NDJSON; ?format=csv)" in (
        lines
    )
    assert lines[-1] == "hint: continue it from its checkpoint: connector ingestion run orders --resume"
    assert not watch.summary(RUN)[-1].startswith("hint")  # no pk_field: nothing to resume from
    ok = watch.summary({**RUN, "state": "successful", "error": [], "error_count": 0}, resumable=True)
    assert ok[0] == "✓ orders successful in 4.0 s: 12,000 documents, 0 rejected, 3,000 docs/s"
    assert not any(line.startswith(("hint", "  error")) for line in ok)


def test_the_live_line_has_one_eta_and_it_is_the_services() -> None:
    running = {"state": "running", "count": 5000, "total": 20000, "progress": 0.25, "estimated_time_remaining": 90_000}
    fields = watch.live_fields(running, 1234.4)
    assert (fields["pct"], fields["docs"], fields["rate"], fields["eta"]) == (
        "25%",
        "5,000/20,000 docs",
        "1,234 docs/s",
        "ETA 1:30",
    )
    queued = watch.live_fields({"state": "queued", "count": 0}, None)
    assert (queued["docs"], queued["rate"], queued["eta"]) == ("0 docs", "", "ETA —")


def test_rate_is_measured_over_the_last_window() -> None:
    meter = watch.RateMeter(window_s=10)
    assert meter.add(0, 0) is None
    assert meter.add(1, 1000) == 1000
    for second in range(2, 30):
        rate = meter.add(second, 1000 * second if second < 20 else 19_000)
    assert rate is not None and rate < 200  # stalled for the last 10 s: the rate shows it


def test_follow_without_a_terminal_prints_each_state_once_and_returns_the_final_status() -> None:
    states = iter(["queued", "queued", "running", "running", "successful"])
    out = io.StringIO()
    final = watch.follow(
        lambda: {"state": next(states), "count": 1},
        job_id="orders",
        console=Console(file=out, force_terminal=False),
        sleep=lambda _s: None,
    )
    assert final["state"] == "successful"
    assert out.getvalue() == "orders queued\norders running\n"


# ---------------------------------------------------------------- service text reaches a terminal harmlessly

HOSTILE = "\x1b]0;ERR-TITLE\x07\x1b[2J\x1b[H[link=https://evil.example/login]Click[/link] [escerr] oops [/] \x9b31m\x7f"
HOSTILE_SHOWN = (
    "\\x1b]0;ERR-TITLE\\x07\\x1b[2J\\x1b[H[link=https://evil.example/login]Click[/link] [escerr] oops [/] \\x9b31m\\x7f"
)


def test_control_characters_are_shown_as_escapes_and_tab_and_newline_kept() -> None:
    assert shown(HOSTILE) == HOSTILE_SHOWN
    assert shown("a\tb\nc\rd\x00\x85e\u202egnp.exe") == "a\tb\nc\\x0dd\\x00\\x85e\\u202egnp.exe"
    assert shown("a\tb\nc", one_line=True) == "a\\x09b\\x0ac"
    assert shown("plain — ünïcode ✓") == "plain — ünïcode ✓"


def _no_terminal_control(out: str) -> None:
    assert "\x1b]" not in out  # no OSC: title, hyperlink
    assert "\x1b[2J" not in out and "\x1b[H" not in out and "\x07" not in out and "\x9b" not in out


def test_tables_and_fields_show_service_text_literally(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # render as for a terminal: styles on, so markup would be live
    monkeypatch.setenv("COLUMNS", "300")
    print_table(("ID", "[bold]v[/]"), [("a", HOSTILE)])
    print_fields([("error", HOSTILE), ("description", "a :smile: [red]b")])
    out = capsys.readouterr().out
    _no_terminal_control(out)
    assert HOSTILE_SHOWN in out
    assert "[bold]v[/]" in out and ":smile:" in out and "[red]b" in out


def test_lines_errors_and_the_live_state_show_service_text_literally(capsys: pytest.CaptureFixture[str]) -> None:
    echo(f"error: {HOSTILE}", err=True)
    print_lines(watch.summary({**RUN, "error": [HOSTILE]}), console=Console(force_terminal=True, width=300))
    out, err = capsys.readouterr()
    for text in (out, err):
        _no_terminal_control(text)
        assert HOSTILE_SHOWN in text
    state = watch.live_fields({"state": "run[/]ning\x1b[2J", "count": 0}, None)["state"]
    console = Console(file=io.StringIO(), force_terminal=True, highlight=False)
    console.print(state)  # markup of the live line: the service's state is escaped, not read as markup
    assert "run[/]ning\\x1b[2J" in console.file.getvalue()  # type: ignore[attr-defined]


def test_json_output_is_the_same_json_with_no_raw_control_character(capsys: pytest.CaptureFixture[str]) -> None:
    value = {"error": {"reason": HOSTILE, "rows": ["\x85\x7f", "ok"]}}
    print_json(value)
    out = capsys.readouterr().out
    assert orjson.loads(out) == value
    assert not any(0x7F <= ord(c) <= 0x9F or (ord(c) < 0x20 and c != "\n") for c in out)


def test_change_sync_and_partitions_show_in_the_summary_and_the_status() -> None:
    synced = {
        **RUN,
        "state": "successful",
        "error": [],
        "error_count": 0,
        "deleted": 1200,
        "watermark": {"value": "2026-11-30T10:00:00.000Z", "pk": 42},
        "partitions": [{"k": 0, "state": "done"}, {"k": 1, "state": "done"}, {"k": 2, "state": "error"}],
    }
    lines = watch.summary(synced)
    assert lines[0] == "✓ orders successful in 4.0 s: 12,000 documents, 0 rejected, 1,200 deleted, 3,000 docs/s"
    assert "  watermark  2026-11-30T10:00:00.000Z (key 42)" in lines
    assert "  partitions 3 ranges: 2 done, 1 error" in lines
    fields = dict(status_fields(synced))
    assert fields["documents"] == "12,000 indexed, 0 rejected, 1,200 deleted, of 20,000 rows"
    assert fields["watermark"] == "2026-11-30T10:00:00.000Z (key 42)"
    assert fields["partitions"] == "3 ranges: 2 done, 1 error"
    plain = dict(status_fields(RUN))
    assert plain["watermark"] is None and plain["partitions"] is None
    assert plain["resume"] is None
    assert dict(status_fields({**RUN, "resumable": True}))["resume"] == "connector ingestion run orders --resume"


def test_ingestion_get_shows_change_sync_settings() -> None:
    from api.commands.ingestions import _deletes, _tracking

    ingest = {
        "tracking_column": "updated_at",
        "tracking_overlap": 300,
        "delete": {"soft": {"column": "gone", "values": [True]}, "reconcile": {"max_delete_ratio": 0.05}},
    }
    assert _tracking(ingest) == "updated_at, overlap 300"
    assert _deletes(ingest) == "soft: gone in [True]; reconcile every 1 run(s), at most 5% of the target"
    assert _tracking({}) is None and _deletes({}) is None
    small = {"delete": {"reconcile": {"max_delete_ratio": 0.005, "every_runs": 3}}}
    assert _deletes(small) == "reconcile every 3 run(s), at most 0.5% of the target"


def test_a_watermark_value_stays_on_its_line() -> None:
    forged = {**RUN, "watermark": {"value": "x\nhint: run rm -rf", "pk": 1}}
    assert watch.watermark_text(forged) == "x\\x0ahint: run rm -rf (key 1)"
    assert not any(line.startswith("hint: run") for line in watch.summary(forged))
