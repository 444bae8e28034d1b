"""One try of one task, in this process, as Airflow's worker runs it: ``python -m tests.property.runner``.

The harness starts this module as a child process for every try, so the proxy can SIGKILL it like
the OOM killer or a lost node would. It plays the two Airflow parts the harness needs:

* the **scheduler**: the first try creates the DAG run with a fixed run id; a later try finds the
  task instance a killed process left ``running`` and fails it through ``TaskInstance.handle_failure``
  (what the scheduler does to a task whose heartbeat stopped), which makes it ``up_for_retry``;
  ``--clear`` clears the task instance as the UI's *Clear* does (a re-run of the same run id);
* the **worker**: the scheduling loop of ``dag.test()`` (try number bumped by the scheduler, state
  queued), then the Task SDK's ``run_task_in_process``: the real task runner against the execution
  API (XComs of the earlier try cleared, ``ti.try_number`` = 2 on the retry, triggers run inline).

``dag.test()`` itself cannot be used: it generates a new run id on every call and replaces an
existing run. Prints one JSON line: ``{"state": ..., "try_number": ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

DAGS_FOLDER = Path(__file__).resolve().parent / "dags"
BUNDLE = "property"


def _sync_bundle(dag_id: str, session: Any) -> None:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag_version import DagVersion

    manager = DagBundlesManager()
    manager.sync_bundles_to_db(session=session)
    session.commit()
    if DagVersion.get_version(dag_id):
        return
    bundle = manager.get_bundle(BUNDLE)
    if not bundle.is_initialized:
        bundle.initialize()
    bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
    sync_bag_to_db(bag, bundle.name, bundle.version)


def run_try(dag_id: str, run_id: str, conf: dict[str, Any], *, clear: bool) -> dict[str, Any]:
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun, get_or_create_dagrun
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.sdk import timezone
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType

    dag = DagBag(str(DAGS_FOLDER)).get_dag(dag_id)
    if dag is None:
        raise LookupError(f"no DAG {dag_id!r} in {DAGS_FOLDER}")
    session = settings.Session()
    _sync_bundle(dag_id, session)
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))

    runs = DagRun.find(dag_id=dag_id, run_id=run_id, session=session)
    if not runs:
        now = timezone.utcnow()
        dr = get_or_create_dagrun(
            dag=scheduler_dag,
            run_id=run_id,
            logical_date=None,
            data_interval=None,
            run_after=now,
            conf=conf,
            triggered_by=DagRunTriggeredByType.TEST,
            triggering_user_name="property-suite",
            start_date=now,
            session=session,
        )
    else:
        dr = runs[0]
        tis = dr.get_task_instances(session=session)
        for ti in tis:
            if ti.state in (TaskInstanceState.RUNNING, TaskInstanceState.QUEUED):
                # The process died under it: what the scheduler does on a missed heartbeat.
                ti.task = scheduler_dag.get_task(ti.task_id)
                ti.handle_failure("the task process was killed (SIGKILL)", session=session)
        session.commit()
        if clear:
            clear_task_instances(dr.get_task_instances(session=session), session)
            session.commit()
        if dr.state != DagRunState.RUNNING:
            dr.state = DagRunState.RUNNING
            session.merge(dr)
            session.commit()
        dr = DagRun.find(dag_id=dag_id, run_id=run_id, session=session)[0]
        dr.dag = scheduler_dag

    # One pass of dag.test()'s loop per try: the harness, not this process, decides on retries.
    finished = {TaskInstanceState.SUCCESS, TaskInstanceState.FAILED, TaskInstanceState.UP_FOR_RETRY}
    ran = False
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        session.expire_all()
        schedulable, _ = dr.update_state(session=session)
        if ran:
            break
        for s in schedulable:
            if s.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                s.try_number += 1
            s.state = TaskInstanceState.SCHEDULED
            s.scheduled_dttm = timezone.utcnow()
        session.commit()
        scheduled = [
            ti for ti in dr.get_task_instances(session=session) if ti.state == TaskInstanceState.SCHEDULED
        ]
        if not scheduled:
            break
        for ti in scheduled:
            try:
                _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
            except Exception as error:
                print(f"task raised: {type(error).__name__}", file=sys.stderr)
        ran = True
    session.expire_all()
    ti = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id).one()
    state = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
    return {"state": state, "try_number": int(ti.try_number), "finished": ti.state in finished}


def _preload() -> None:
    """Import what every try needs once, before forking (as Airflow's workers do)."""
    import airflow.models.dagrun
    import airflow.models.taskinstance
    import airflow.sdk.execution_time.supervisor
    import airflow.serialization.serialized_objects  # noqa: F401
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    # The in-process execution API app takes long to build: build it once (the server object is
    # cached), every fork reuses it; its transport and event-loop thread are made after the fork.
    app = in_process_api_server().app
    _initialise_versioned_apps(app)


def _initialise_versioned_apps(app: Any) -> None:
    """Build the execution API's versioned (cadwyn) routers now: done lazily, it costs each try ~15 s."""
    from cadwyn import Cadwyn

    stack = [app]
    while stack:
        current = stack.pop()
        if isinstance(current, Cadwyn) and not current._cadwyn_initialized:
            current._cadwyn_initialize()
        stack.extend(
            getattr(route, "app", None) for route in getattr(current, "routes", []) if hasattr(route, "app")
        )

    import tests.property.writers  # noqa: F401

    for module in (
        "accounts",
        "api",
        "automations",
        "campaigns",
        "contacts",
        "deals",
        "erasure",
        "events",
        "webhooks",
    ):
        __import__(f"airflow_provider_activecampaign.operators.{module}")


def _forked_try(command: dict[str, Any]) -> None:
    """In the forked task process: fresh database connections, this try's environment, one try."""
    from airflow import settings

    settings.dispose_orm()
    settings.configure_orm()
    os.environ.update(command.get("env") or {})
    out = Path(command["log"]).open("w")  # noqa: SIM115  (stays open: it is this process's stdout)
    os.dup2(out.fileno(), 1)
    os.dup2(out.fileno(), 2)
    if os.environ.get("PROPERTY_TRACE"):
        import faulthandler

        faulthandler.dump_traceback_later(float(os.environ["PROPERTY_TRACE"]), file=out)
    conf = json.loads(Path(command["conf"]).read_text())
    result = run_try(command["dag_id"], command["run_id"], conf, clear=bool(command.get("clear")))
    print("RESULT " + json.dumps(result), flush=True)


def serve() -> int:
    """Fork server: one JSON command per stdin line; answers ``{"pid": n}`` then ``{"status": n}``.

    Each try is a fork of this pre-imported process, as the Task SDK's supervisor forks the task
    process: the proxy SIGKILLs exactly that process, and the next try is a fresh one.
    """
    # Answers go to the real stdout; everything else this process prints goes to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    _preload()
    print(json.dumps({"ready": True}), file=answers, flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the task process
            code = 0
            try:
                _forked_try(command)
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"pid": pid}), file=answers, flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(status)}), file=answers, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true", help="fork server (commands on stdin)")
    parser.add_argument("--dag-id")
    parser.add_argument("--run-id")
    parser.add_argument("--conf", help="JSON file with the run's conf")
    parser.add_argument("--clear", action="store_true", help="re-run: clear the task instance first")
    args = parser.parse_args(argv)
    if args.serve:
        return serve()
    conf = json.loads(Path(args.conf).read_text())
    result = run_try(args.dag_id, args.run_id, conf, clear=args.clear)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
