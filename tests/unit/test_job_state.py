from __future__ import annotations

import itertools
from typing import Any

import pytest

from connector.job_state import (
    ACTIVE,
    INFOS,
    STATUS_VERSION,
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    JobState,
    RunStatus,
    envelope,
)

pytestmark = pytest.mark.unit

Q, R, ING, ABD, ERR, OK = (
    JobState.QUEUED,
    JobState.RUNNING,
    JobState.ABORTING,
    JobState.ABORTED,
    JobState.ERROR,
    JobState.SUCCESSFUL,
)

# The state machine, spelled out independently of TRANSITIONS.
ALLOWED = {
    (Q, R),
    (Q, ABD),
    (Q, ERR),
    (R, R),
    (R, ING),
    (R, OK),
    (R, ERR),
    (R, ABD),
    (R, Q),
    (ING, ING),
    (ING, ABD),
    (ING, ERR),
    (ING, OK),
}
ALL_PAIRS = list(itertools.product(JobState, repeat=2))
FORBIDDEN = [pair for pair in ALL_PAIRS if pair not in ALLOWED]


def run(state: JobState = JobState.QUEUED, **changes: Any) -> RunStatus:
    return RunStatus(id="job-1", run_id="run-1", state=state, **changes)


def test_state_values() -> None:
    assert [s.value for s in JobState] == ["queued", "running", "aborting", "aborted", "error", "successful", "skipped"]


def test_transition_table() -> None:
    assert set(TRANSITIONS) == set(JobState)
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED
    assert len(FORBIDDEN) == 49 - 13


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transition(current: JobState, target: JobState) -> None:
    moved = run(current).moved_to(target)
    assert moved.state is target


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transition(current: JobState, target: JobState) -> None:
    status = run(current, infos="before")
    with pytest.raises(IllegalTransition) as caught:
        status.moved_to(target, count=5)
    assert str(caught.value) == f"run run-1: {current.value} -> {target.value} is not allowed"
    assert status.state is current
    assert status.count == 0
    assert status.infos == "before"


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_terminal_states_are_final(state: JobState) -> None:
    for target in JobState:
        with pytest.raises(IllegalTransition):
            run(state).moved_to(target)
    assert TRANSITIONS[state] == frozenset()


def test_illegal_transition_is_a_value_error() -> None:
    assert issubclass(IllegalTransition, ValueError)


@pytest.mark.parametrize(
    ("current", "target", "infos"),
    [
        (Q, R, "The job is running."),
        (Q, ABD, "The job has been aborted."),
        (Q, ERR, "The job has failed."),
        (R, ING, "The job is aborting."),
        (R, OK, "The job is done."),
        (R, Q, "The job is queued."),
        (ING, ABD, "The job has been aborted."),
    ],
)
def test_infos_set_on_state_change(current: JobState, target: JobState, infos: str) -> None:
    assert run(current, infos="old").moved_to(target).infos == infos
    assert INFOS[target] == infos


def test_infos_kept_without_state_change() -> None:
    assert run(R, infos="Read 10 rows.").moved_to(R, count=10).infos == "Read 10 rows."
    assert run(ING).moved_to(ING).infos is None


def test_explicit_infos_win() -> None:
    assert run(R).moved_to(ERR, infos="Query failed: boom").infos == "Query failed: boom"


def test_moved_to_applies_changes_and_keeps_the_original() -> None:
    original = run(Q, create_time=1)
    moved = original.moved_to(R, start_time=2, worker="w1", heartbeat=3)
    assert (moved.state, moved.start_time, moved.worker, moved.heartbeat) == (R, 2, "w1", 3)
    assert moved.create_time == 1
    assert (original.state, original.start_time, original.worker, original.infos) == (Q, None, None, None)


def test_with_progress_keeps_state() -> None:
    status = run(R, infos="x").with_progress(count=10, total=100, progress=0.1)
    assert (status.state, status.count, status.total, status.progress, status.infos) == (R, 10, 100, 0.1, "x")


@pytest.mark.parametrize(
    ("state", "running", "ended"),
    [(Q, True, False), (R, True, False), (ING, True, False), (ABD, False, True), (ERR, False, True), (OK, False, True)],
)
def test_is_running_and_ended(state: JobState, running: bool, ended: bool) -> None:
    status = run(state)
    assert status.is_running is running
    assert status.ended is ended
    assert (state in ACTIVE) is running


def test_minimal_fields() -> None:
    fields = run(Q).fields()
    assert fields == {
        "version": STATUS_VERSION,
        "id": "job-1",
        "is_running": True,
        "state": "queued",
        "count": 0,
        "run_id": "run-1",
        "type": "ingestion",
        "error_count": 0,
        "trigger": "manual",
    }
    assert list(fields) == ["version", "id", "is_running", "state", "count", "run_id", "type", "error_count", "trigger"]
    assert STATUS_VERSION == 1


def full_status() -> RunStatus:
    return RunStatus(
        id="job-1",
        run_id="run-7",
        state=JobState.ABORTING,
        is_aborting=True,
        create_time=1000,
        start_time=1001,
        end_time=1009,
        infos="The job is aborting.",
        error=["row 3: bad value"],
        count=42,
        last_id="42",
        error_count=1,
        total=100,
        progress=0.42,
        estimated_time_remaining=12,
        eta="2024-06-01T12:00:00Z",
        worker="worker-a",
        heartbeat=1008,
        params={"max_primary_key": 41},
        links={"self": "/_siren/job/ingestion/job-1/run-7"},
        target="sales",
        strategy="INCREMENTAL",
        staging_index="sales-staging",
        trigger="schedule",
        fire_time=990,
        resume_of="run-6",
        checkpoint={"rows": 42},
        last_record=[42, "x"],
        last_record_timestamp=1007,
    )


def test_full_fields_in_seed_order() -> None:
    fields = full_status().fields()
    assert list(fields) == [
        "version",
        "id",
        "is_running",
        "is_aborting",
        "start_time",
        "end_time",
        "infos",
        "error",
        "state",
        "count",
        "last_id",
        "run_id",
        "type",
        "create_time",
        "error_count",
        "total",
        "progress",
        "estimated_time_remaining",
        "eta",
        "worker",
        "heartbeat",
        "target",
        "strategy",
        "staging_index",
        "trigger",
        "fire_time",
        "resume_of",
        "last_record",
        "last_record_timestamp",
        "params",
        "links",
    ]
    assert not {"checkpoint", "staging_kept", "server_rendering", "last_record_types"} & set(fields)
    assert fields["is_running"] is True
    assert fields["is_aborting"] is True
    assert fields["state"] == "aborting"
    assert fields["error"] == ["row 3: bad value"]
    assert fields["params"] == {"max_primary_key": 41}
    assert fields["last_record"] == [42, "x"]


def test_fields_omit_unknown_values() -> None:
    fields = run(OK).fields()
    for name in (
        "is_aborting",
        "start_time",
        "end_time",
        "infos",
        "error",
        "last_id",
        "create_time",
        "total",
        "progress",
        "estimated_time_remaining",
        "eta",
        "worker",
        "heartbeat",
        "target",
        "strategy",
        "staging_index",
        "fire_time",
        "resume_of",
        "last_record",
        "last_record_timestamp",
        "checkpoint",
        "params",
        "links",
    ):
        assert name not in fields
    assert fields["is_running"] is False
    assert fields["count"] == 0
    assert fields["error_count"] == 0


def test_fields_copy_mutable_values() -> None:
    status = full_status()
    fields = status.fields()
    fields["error"].append("more")
    fields["params"]["x"] = 1
    fields["links"]["y"] = "z"
    assert status.error == ["row 3: bad value"]
    assert status.params == {"max_primary_key": 41}
    assert "y" not in status.links


def test_to_source_is_under_the_job_type_with_bookkeeping_beside_it() -> None:
    status = run(R)
    assert status.to_source() == {"ingestion": status.fields(), "connector": {}}
    kept = full_status().with_progress(staging_kept=True, server_rendering=True, last_record_types=["int4", None])
    assert kept.to_source()["connector"] == {
        "checkpoint": {"rows": 42},
        "staging_kept": True,
        "server_rendering": True,
        "last_record_types": ["int4", None],
    }
    assert kept.public_source() == {"ingestion": kept.fields()}
    assert list(RunStatus(id="j", run_id="r", state=R, type="reindex").to_source()) == ["reindex", "connector"]


@pytest.mark.parametrize(
    "status",
    [
        RunStatus(id="job-1", run_id="run-1", state=JobState.QUEUED),
        RunStatus(id="job-1", run_id="run-1", state=JobState.SUCCESSFUL, count=3, end_time=5, infos="The job is done."),
        full_status(),
    ],
)
def test_source_round_trip(status: RunStatus) -> None:
    source = status.to_source()
    assert list(source) == ["ingestion", "connector"]
    assert RunStatus.from_source(source) == status


def test_documents_with_bookkeeping_inside_the_status_are_still_read() -> None:
    older = {"ingestion": {**run(R).fields(), "checkpoint": {"pk": 3}, "staging_kept": True}}
    status = RunStatus.from_source(older)
    assert (status.checkpoint, status.staging_kept) == ({"pk": 3}, True)


def test_from_source_ignores_unknown_fields() -> None:
    source = {
        "ingestion": {
            "version": 1,
            "id": "job-1",
            "is_running": False,
            "state": "error",
            "count": 2,
            "run_id": "run-1",
            "type": "ignored: the key gives the type",
            "future_field": {"a": 1},
        }
    }
    status = RunStatus.from_source(source)
    assert status == RunStatus(id="job-1", run_id="run-1", state=JobState.ERROR, count=2)
    assert status.state is JobState.ERROR
    assert status.type == "ingestion"


def test_from_source_rejects_unknown_state() -> None:
    with pytest.raises(ValueError) as caught:
        RunStatus.from_source({"ingestion": {"id": "j", "run_id": "r", "state": "paused"}})
    assert "paused" in str(caught.value)


def test_envelope_found() -> None:
    status = run(R, start_time=5)
    assert envelope("ingestion", "job-1", status) == {
        "_id": "job-1",
        "type": "ingestion",
        "found": True,
        "status": status.fields(),
    }


def test_envelope_not_found() -> None:
    assert envelope("ingestion", "nope", None) == {"_id": "nope", "type": "ingestion", "found": False}
