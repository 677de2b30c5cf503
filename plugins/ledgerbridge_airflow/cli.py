"""`ledgerbridge-airflow`: what an Airflow deployment needs before LedgerBridge's DAGs can run.

    ledgerbridge-airflow setup      (or: python -m ledgerbridge_airflow.cli setup)

checks the deployment's settings first (LEDGERBRIDGE_ENVIRONMENT; in production LEDGERBRIDGE_TOKEN_KEY is
required) and refuses, exit 1, naming what to set; then creates the pool of every connector spec
(connectors/specs.py) in Airflow's metadata database, after `airflow db migrate`. Idempotent: a pool that
exists keeps the slots an operator gave it; only its description follows the spec. Loaded by Airflow's
plugin manager too, so nothing runs at import.

    ledgerbridge-airflow set-connections < connections.json

creates or updates Airflow connections in the metadata database (Admin -> Connections) from a JSON
object on stdin, {conn_id: {conn_type, host, login, password, schema, port, extra}}: what `make demo`
does with its sandbox connections, so that they are read from stdin, never from a file.

    printenv AIRFLOW_ADMIN_PASSWORD | ledgerbridge-airflow set-password admin

sets a user's password in the file where Airflow's SimpleAuthManager keeps them ([core]
simple_auth_manager_passwords_file), from stdin: what a deployment's init does, so that the api-server
does not generate one and print it in its log.

    ledgerbridge-airflow dags-test DAG_ID

runs `airflow dags test DAG_ID` (its output passed through) and then files each task's part of that output
where the Airflow UI reads task logs: `airflow dags test` runs the tasks in its own process and writes no
task log file, so the UI has nothing to show for its runs otherwise.

    ledgerbridge-airflow dag-files [--shards N] [--dags-folder DIR] [--check] [--which DAG_ID]

writes the DAG files, `ledgerbridge_sync_<i>_of_<N>.py` for i in 0..N-1, into the DAG folder (default:
`[core] dags_folder`) and removes those of any other split; N defaults to `LEDGERBRIDGE_DAG_SHARDS`, else
16 (ledgerbridge.dag_files, docs/operations.md "Many legal entities"). `--check` changes nothing and exits 1
when the folder does not hold exactly that split; `--which DAG_ID` prints the file that builds DAG_ID.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys


def check_settings() -> list[str]:
    """The deployment's settings that every task relies on, checked before anything is set up: raises
    ledgerbridge.settings.SettingError naming what to set; else one line saying what was found."""
    from ledgerbridge import settings

    environment = settings.environment()
    key = settings.token_key()
    where = (f"OAuth tokens encrypted under {settings.TOKEN_KEY_VARIABLE}" if key
             else "OAuth tokens encrypted under each connection's client secret (no LEDGERBRIDGE_TOKEN_KEY)")
    return [f"environment {environment}: {where}"]


def wanted_pools() -> list:
    """The pools `setup` creates: each accounting connector spec's (ledgerbridge.connectors.specs.Pool)."""
    from ledgerbridge.connectors.specs import ACCOUNTING_SPECS

    return list(dict.fromkeys(spec.pool for spec in ACCOUNTING_SPECS))


def setup_pools() -> list[str]:
    """Creates or updates each spec's pool; one line per pool saying what was done."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    report = []
    with create_session() as session:
        for wanted in wanted_pools():
            pool = Pool.get_pool(wanted.name, session=session)
            if pool is None:
                session.add(Pool(pool=wanted.name, slots=wanted.slots, description=wanted.description,
                                 include_deferred=False))
                report.append(f"pool {wanted.name}: created with {wanted.slots} slots")
            elif pool.description != wanted.description:
                pool.description = wanted.description
                report.append(f"pool {wanted.name}: description updated; keeps its {pool.slots} slots")
            else:
                report.append(f"pool {wanted.name}: exists with {pool.slots} slots; unchanged")
    return report


CONNECTION_FIELDS = ("conn_type", "host", "login", "password", "schema", "port", "extra")


def set_connections(wanted: dict[str, dict]) -> list[str]:
    """Creates each connection of `wanted` ({conn_id: fields}) or brings the one there up to date; one line
    per connection saying what was done (never a secret)."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    report = []
    with create_session() as session:
        for conn_id, fields in sorted(wanted.items()):
            new = Connection.from_json(json.dumps(fields), conn_id=conn_id)
            old = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
            if old is None:
                session.add(new)
                report.append(f"connection {conn_id}: created ({new.conn_type})")
                continue
            changed = [name for name in CONNECTION_FIELDS if _field(old, name) != _field(new, name)]
            for name in changed:
                if name == "extra":
                    old.set_extra(new.get_extra())
                else:
                    setattr(old, name, getattr(new, name))
            report.append(f"connection {conn_id}: " + (f"updated ({', '.join(changed)})" if changed else "unchanged"))
    return report


def _field(conn, name: str):
    return conn.extra_dejson if name == "extra" else getattr(conn, name)


class CommandError(Exception):
    """Refused: the message says why and what to do."""


def set_password(username: str, password: str) -> str:
    """`username`'s password in SimpleAuthManager's passwords file (created 0600 when missing; other
    users' passwords kept); one line saying what was done (never the password)."""
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
    from airflow.configuration import conf

    manager = conf.get("core", "auth_manager")
    if manager.rsplit(".", 1)[-1] != "SimpleAuthManager":
        raise CommandError(f"[core] auth_manager is {manager}: its users and passwords are not kept in "
                           "SimpleAuthManager's file; create the user with that auth manager's own tools")
    users = [entry.split(":")[0].strip() for entry in conf.get("core", "simple_auth_manager_users").split(",")]
    if username not in users:
        raise CommandError(f"no user {username!r} in [core] simple_auth_manager_users ({', '.join(users)}): "
                           "add it there (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS) first")
    if not password.strip():
        raise CommandError(f"no password for {username!r} on stdin")
    path = SimpleAuthManager.get_generated_password_file()
    passwords = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as stored:
            passwords = json.loads(stored.read().strip() or "{}")
    if passwords.get(username) == password:
        return f"password of user {username}: unchanged ({path})"
    passwords[username] = password
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stored:
        stored.write(json.dumps(passwords) + "\n")
    return f"password of user {username}: set ({path})"


TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(?P<task_id>\S+) map_index=(?P<map_index>-?\d+)")
TASK_END = re.compile(r"\[DAG TEST\] end task task_id=")
TASK_RUN = re.compile(r"\[DAG TEST\] running task <TaskInstance: \S+ (?P<run_id>\S+) \[")
LOG_LINE = re.compile(r"^(?P<timestamp>\d{4}-\d\d-\d\dT\S+) \[(?P<level>\w+)\s*\] (?P<event>.*)$")


def dags_test(dag_id: str) -> int:
    """`airflow dags test dag_id`, its output passed through; then each task's log filed for the UI."""
    command = [sys.executable, "-m", "airflow", "dags", "test", dag_id]
    output = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            sys.stdout.write(line)
            output.append(line)
    sys.stdout.flush()
    sections = task_sections(output)
    if sections:
        written = file_task_logs(dag_id, sections)
        print(f"ledgerbridge-airflow dags-test: {len(written)} task log(s) filed for the Airflow UI in "
              f"{os.path.commonpath(written) if written else '(no task instance found)'}", flush=True)
    return process.returncode


def task_sections(lines: list[str]) -> dict[tuple[str, str, int], list[str]]:
    """The lines of each task of an `airflow dags test` output, by (run_id, task_id, map_index): from its
    "starting" line to its "end task" line (or the next task's start, when it failed on the way)."""
    sections: dict[tuple[str, str, int], list[str]] = {}
    current = None
    for line in lines:
        start = TASK_START.search(line)
        if start:
            current = [line]
            pending = (start["task_id"], int(start["map_index"]))
            continue
        if current is None:
            continue
        current.append(line)
        run = TASK_RUN.search(line)
        if run and len(current) == 2:
            sections[(run["run_id"], *pending)] = current
        if TASK_END.search(line):
            current = None
    return sections


def file_task_logs(dag_id: str, sections: dict[tuple[str, str, int], list[str]]) -> list[str]:
    """Writes each section where the configured task log handler reads that try's log (one JSON line per
    log line, as task logs are). Returns the paths written."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.log.log_reader import TaskLogReader
    from airflow.utils.session import create_session
    from sqlalchemy import select

    handler = TaskLogReader().log_handler
    written = []
    with create_session() as session:
        for (run_id, task_id, map_index), lines in sections.items():
            ti = session.scalar(select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index))
            if ti is None:
                continue
            path = handler._init_file(ti)  # the handler's own path of this try (and its folder, permissions)
            with open(path, "w", encoding="utf-8") as log:
                log.writelines(json.dumps(_structured(line)) + "\n" for line in lines)
            written.append(path)
    return written


def _structured(line: str) -> dict:
    line = line.rstrip("\n")
    match = LOG_LINE.match(line)
    if match is None:  # a traceback's or a message's next line
        return {"event": line}
    return {"timestamp": match["timestamp"], "level": match["level"], "event": match["event"]}


def dag_files(shards: int | None, folder: str | None, *, check: bool = False, which: str | None = None) -> int:
    from ledgerbridge.dag_files import check_shards, dag_file_for, layout_problem, shards_setting, write_dag_files

    try:
        shards = shards_setting() if shards is None else shards
        check_shards(shards)
    except ValueError as exc:
        print(f"ledgerbridge-airflow dag-files: {exc}", file=sys.stderr)
        return 2
    if folder is None:
        from airflow.configuration import conf

        folder = os.path.expanduser(conf.get("core", "dags_folder"))
    if which:
        print(os.path.join(folder, dag_file_for(which, shards)))
        return 0
    if check:
        problem = layout_problem(folder, shards) if os.path.isdir(folder) else f"{folder}: no such folder"
        print(problem or f"{folder}: the LedgerBridge DAGs are split into {shards} files", file=sys.stderr if problem else sys.stdout)
        return 1 if problem else 0
    report = write_dag_files(folder, shards)
    for line in report or [f"{folder}: the {shards} DAG files are already there; nothing changed"]:
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ledgerbridge-airflow", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="check the deployment's settings, then create the Airflow pools of every connector "
                                     "kind (after `airflow db migrate`)")
    commands.add_parser("set-connections", help="create or update Airflow connections from a JSON object on stdin")
    password_parser = commands.add_parser(
        "set-password", help="set a SimpleAuthManager user's password, read from stdin (the deployment's init)")
    password_parser.add_argument("username")
    dags_test_parser = commands.add_parser(
        "dags-test", help="`airflow dags test DAG_ID`, then its task logs filed where the Airflow UI reads them")
    dags_test_parser.add_argument("dag_id")
    files_parser = commands.add_parser(
        "dag-files", help="write the DAG files, one per shard of the registry's DAGs (ledgerbridge_sync_<i>_of_<N>.py)")
    files_parser.add_argument("--shards", type=int, default=None,
                              help="how many files (default: LEDGERBRIDGE_DAG_SHARDS, else 16)")
    files_parser.add_argument("--dags-folder", default=None, help="default: Airflow's [core] dags_folder")
    files_parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if the split is not there")
    files_parser.add_argument("--which", metavar="DAG_ID", help="print the file that builds DAG_ID")
    args = parser.parse_args(argv)
    if args.command == "dags-test":
        return dags_test(args.dag_id)
    if args.command == "dag-files":
        return dag_files(args.shards, args.dags_folder, check=args.check, which=args.which)
    if args.command == "set-password":
        try:
            print(set_password(args.username, sys.stdin.read().rstrip("\n")))
        except CommandError as exc:
            print(f"ledgerbridge-airflow set-password: {exc}", file=sys.stderr)
            return 1
        return 0
    from ledgerbridge.settings import SettingError
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        settings_report = check_settings() if args.command == "setup" else []
    except SettingError as exc:
        print(f"ledgerbridge-airflow {args.command}: {exc}; nothing was set up", file=sys.stderr)
        return 1
    try:
        if args.command == "set-connections":
            report = set_connections(json.load(sys.stdin))
        else:
            report = settings_report + setup_pools()
    except (OperationalError, ProgrammingError) as exc:
        print(f"ledgerbridge-airflow {args.command}: Airflow's metadata database is not ready ({exc.orig}): "
              "run `airflow db migrate` first", file=sys.stderr)
        return 1
    for line in report:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
