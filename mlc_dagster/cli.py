"""`mlc-dagster`: the command line (CONTRACT.md).

Exit status 0 on success; otherwise one line on stderr saying what failed and what to do, and a
non-zero status (1 failure, 2 usage or configuration).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from .alerts import RULES
from .sandbox.schema import PROFILES

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SUBSCRIPTIONS = PROJECT_ROOT / "subscriptions.example.yaml"
DEMO_MARKER = ".mlc-demo-dir"
GL_TRUTH = ("unbalanced_journal", "journal_header_mismatch", "retired_account_posting", "intercompany_mismatch")


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# -- running jobs through Dagster -------------------------------------------------------------------


def _instance() -> Any:
    import dagster as dg

    if not os.environ.get("DAGSTER_HOME"):
        raise CliError("DAGSTER_HOME is not set: point it at the Dagster instance folder "
                       "(the one holding dagster.yaml)", code=2)
    home = Path(os.environ["DAGSTER_HOME"]).resolve()  # Dagster insists on an absolute path
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def _failure_message(result: Any) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None and error.message.startswith("dagster._core.errors"):
                error = error.cause
            return error.message.strip().splitlines()[0]
    return "the run failed; see its events in the Dagster UI"


def run_job(job_name: str, instance: Any, tags: dict[str, str] | None = None,
            partition_key: str | None = None) -> Any:
    from .definitions import defs

    job = defs.resolve_job_def(job_name)
    # No console logs: the run's full event log is in the instance (UI, audit); the CLI says the outcome.
    result = job.execute_in_process(instance=instance, tags=tags or {}, raise_on_error=False,
                                    partition_key=partition_key,
                                    run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
    if not result.success:
        raise CliError(f"{job_name} run {result.run_id} failed: {_failure_message(result)}")
    return result


def poll_day(day: date, instance: Any, runs: int = 1, progress: bool = False) -> list[Any]:
    """The day's reference data, then every transactional window of `day` in `runs` ranged runs (one
    for the demo; a few for replay, so its progress bar moves). Returns the transactional runs."""
    import dagster as dg
    from tqdm import tqdm

    from .defs.partitions import TRANSACTIONAL

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    keys = TRANSACTIONAL.get_partition_keys_in_time_window(dg.TimeWindow(start, start + timedelta(days=1)))
    if not keys:
        raise CliError(f"{day} has no complete windows yet (partitions start {TRANSACTIONAL.start:%Y-%m-%d})")
    size = -(-len(keys) // max(1, runs))
    chunks = [keys[i:i + size] for i in range(0, len(keys), size)]
    # The bar goes to the terminal only: scripts and logs get the summary lines.
    with tqdm(total=1 + len(keys), unit="window", desc=f"replay {day}", disable=not (progress and sys.stderr.isatty()),
              file=sys.stderr) as bar:
        run_job("workday_reference_poll", instance, tags={"mlc/day": day.isoformat()}, partition_key=day.isoformat())
        bar.update(1)
        results = []
        for chunk in chunks:
            results.append(run_job("workday_transactional_poll", instance, tags={
                "dagster/asset_partition_range_start": chunk[0],
                "dagster/asset_partition_range_end": chunk[-1],
                "mlc/day": day.isoformat(),
            }))
            bar.update(len(chunk))
    return results


def deliver(instance: Any) -> Any:
    return run_job("slack_delivery", instance, tags={"mlc/trigger": "cli"})


def deliver_as_sensor(instance: Any) -> list[Any]:
    """Evaluate the alerts sensor once and run what it asks for, as the daemon would."""
    import dagster as dg

    from .definitions import defs

    sensor = defs.resolve_sensor_def("alerts_to_slack")
    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    return [run_job("slack_delivery", instance, tags=dict(request.tags)) for request in tick.run_requests or []]


def _metadata(result: Any, key: list[str]) -> dict[str, Any]:
    import dagster as dg

    node = None
    for event in result.all_events:
        if event.is_step_materialization and event.asset_key == dg.AssetKey(key):
            node = event
    if node is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in node.event_specific_data.materialization.metadata.items()}


# -- demo -------------------------------------------------------------------------------------------


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _prepare_demo_dir(folder: Path) -> None:
    if folder.exists():
        if not (folder / DEMO_MARKER).exists():
            raise CliError(f"{folder} exists and is not a demo folder; choose another with --dir", code=2)
        shutil.rmtree(folder)
    (folder / "dagster_home").mkdir(parents=True)
    (folder / DEMO_MARKER).write_text("made by mlc-dagster demo; deleted and remade by the next demo\n")
    # The embedded default: SQLite storage in DAGSTER_HOME, nothing to run besides this process.
    (folder / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    shutil.copy(EXAMPLE_SUBSCRIPTIONS, folder / "subscriptions.yaml")


def cmd_demo(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from .sandbox.scenario import Scenario
    from .sandbox.slack import SlackSandbox
    from .sandbox.workday import WorkdaySandbox

    folder = Path(args.dir).resolve()
    _prepare_demo_dir(folder)
    day = date.fromisoformat(args.day) if args.day else (datetime.now(UTC) - timedelta(days=1)).date()
    started = time.monotonic()
    out(f"Generating the sandbox business day {day} (seed {args.seed}, scale {args.scale}) ...")
    scenario = Scenario.generate(seed=args.seed, scale=args.scale, day=day)
    truth: dict[str, Any] = dict(scenario.ground_truth)
    out(f"  {len(scenario.supplier_invoices)} supplier invoices from {len(scenario.suppliers)} suppliers, "
        f"{len(scenario.payments)} payments, {len(scenario.journals)} journals, {len(scenario.companies)} companies; "
        f"planted: {len(truth['high_value_invoice'])} high-value and {len(truth['overdue_invoice'])} overdue "
        f"invoices, {len(truth['duplicate_invoice'])} duplicate pairs, "
        f"{sum(len(truth[k]) for k in GL_TRUTH)} GL discrepancies")
    with WorkdaySandbox(scenario, profile=args.profile) as workday, SlackSandbox() as slack:
        out(f"Workday sandbox ({args.profile} tenant): {workday.soap_url}   Slack sandbox: {slack.api_url}")
        env = workday.settings(rest=False) | slack.settings() | {
            "DAGSTER_HOME": str(folder / "dagster_home"),
            "MLC_DUCKDB_PATH": str(folder / "mlc.duckdb"),
            "MLC_SUBSCRIPTIONS": str(folder / "subscriptions.yaml"),
        }
        with _environment(env):
            instance = _instance()
            out("Polling the day through Dagster: reference data, then 24 hourly windows in one ranged run ...")
            (poll,) = poll_day(day, instance)
            for entity in ("supplier_invoices", "purchase_orders", "payments", "journal_entries"):
                polled = _metadata(poll, ["workday", entity])
                out(f"  {entity}: {polled.get('records')} records in {polled.get('windows')} windows, "
                    f"{polled.get('api_calls')} SOAP calls, {polled.get('retries')} retries")
            for rule in RULES:
                raised = _metadata(poll, ["alerts", rule])
                if raised.get("new_alerts"):
                    out(f"  {rule}: {raised.get('new_alerts')} alerts, "
                        f"{raised.get('new_deliveries')} deliveries queued")
            out("The alerts sensor launches slack_delivery (paced to 1 message/s per channel) ...")
            runs = deliver_as_sensor(instance)
            for run in runs:
                sent = _metadata(run, ["slack", "alert_deliveries"])
                out(f"  run {run.run_id}: {sent.get('messages_posted')} messages posted, "
                    f"{sent.get('rate_limited')} rate-limit waits")
        messages = slack.messages()
    out("")
    out(f"The Slack sandbox received {len(messages)} messages:")
    for message in messages:
        shown = message["text"].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        out(f"  #{message['channel_name']} ts={message['ts']}: {shown}")
    out("")
    out(f"Done in {time.monotonic() - started:.1f}s.")
    out(f"DuckDB warehouse: {folder / 'mlc.duckdb'}  (try: SELECT * FROM analytics.alerts)")
    out("Open the Dagster UI on this run history:")
    out(f"  DAGSTER_HOME={folder / 'dagster_home'} MLC_DUCKDB_PATH={folder / 'mlc.duckdb'} "
        f"MLC_SUBSCRIPTIONS={folder / 'subscriptions.yaml'} .venv/bin/dagster dev -w workspace.yaml")
    if not messages:
        raise CliError("the demo posted no messages to the Slack sandbox; see the run logs above")
    return 0


# -- sandbox, deliver, replay -----------------------------------------------------------------------


def cmd_sandbox(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from .sandbox.scenario import Scenario
    from .sandbox.slack import SlackSandbox
    from .sandbox.workday import WorkdaySandbox

    started: list[Any] = []
    try:
        if args.which in ("workday", "all"):
            day = date.fromisoformat(args.day) if args.day else (datetime.now(UTC) - timedelta(days=1)).date()
            workday = WorkdaySandbox(Scenario.generate(seed=args.seed, scale=args.scale, day=day),
                                     host=args.host, port=args.workday_port, profile=args.profile).start()
            started.append(workday)
            for name, value in workday.settings().items():
                out(f"{name}={value}")
            out(f"# business day {day}, seed {args.seed}, scale {args.scale}, {args.profile} tenant")
        if args.which in ("slack", "all"):
            slack = SlackSandbox(host=args.host, port=args.slack_port).start()
            started.append(slack)
            for name, value in slack.settings().items():
                out(f"{name}={value}")
            out(f"# messages received: {slack.base_url}/_sandbox/messages")
        out("Sandboxes running; Ctrl-C stops them.")
        sys.stdout.flush()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        for server in started:
            server.stop()


def cmd_deliver(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    result = deliver(_instance())
    sent = _metadata(result, ["slack", "alert_deliveries"])
    out(f"slack_delivery run {result.run_id}: {sent.get('messages_posted', 0)} posted, "
        f"{sent.get('failed', 0)} failed, {sent.get('released', 0)} left pending "
        f"({sent.get('slack_messages', 0)} Slack messages, {sent.get('digests', 0)} digests, "
        f"{sent.get('messages_updated', 0)} updated)")
    return 0 if not sent.get("failed") else 1


def cmd_replay(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    try:
        day = date.fromisoformat(args.day)
    except ValueError:
        raise CliError(f"--day {args.day!r}: expected YYYY-MM-DD", code=2) from None
    instance = _instance()
    results = poll_day(day, instance, runs=4, progress=True)
    records = sum(_metadata(r, ["workday", "supplier_invoices"]).get("records", 0) for r in results)
    windows = sum(_metadata(r, ["workday", "supplier_invoices"]).get("windows", 0) for r in results)
    queued = sum(_metadata(r, ["alerts", rule]).get("new_deliveries", 0) for r in results for rule in RULES)
    out(f"replayed {day}: {len(results)} runs ({', '.join(r.run_id[:8] for r in results)}), {records} invoice "
        f"records in {windows} windows, {queued} deliveries newly queued")
    if args.resend:
        from .slack.outbox import resend
        from .warehouse import Warehouse

        again = resend(Warehouse(os.environ.get("MLC_DUCKDB_PATH", "data/mlc.duckdb")), day)
        out(f"--resend: {again} deliveries of {day}'s alerts queued to be posted again "
            "(their earlier posts are kept in alerts.delivery_history)")
    if args.no_deliver:
        return 0
    return cmd_deliver(args, out)


def cmd_doctor(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from .credentials import CredentialStoreError, default_store
    from .doctor import Check, render, run_doctor

    store = default_store()
    problems: list[Check] = []

    def lookup(name: str) -> str | None:  # the environment first, then the encrypted store
        try:
            return store.get(name)
        except CredentialStoreError as exc:
            if not problems:
                problems.append(Check("config credential store", False, str(exc),
                                      "set MLC_SECRET_KEY (or MLC_SECRET_KEY_FILE) to the store's key"))
            return os.environ.get(name)

    checks = run_doctor(lookup)
    checks = problems + checks
    out(render(checks))
    return 0 if all(check.ok for check in checks) else 1


def parse_since(text: str) -> datetime:
    """`2026-11-29`, `2026-11-29T08:00`, `24h` or `7d` (UTC)."""
    text = text.strip()
    if text[:-1].isdigit() and text[-1:] in ("h", "d"):
        amount = int(text[:-1])
        return datetime.now(UTC) - (timedelta(hours=amount) if text.endswith("h") else timedelta(days=amount))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--since {text!r}: expected YYYY-MM-DD, an ISO time, or 24h / 7d", code=2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_audit(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from .audit import read_audit, render

    since = parse_since(args.since)
    out(render(read_audit(_instance(), since), args.format))
    return 0


# -- credentials, slack-app --------------------------------------------------------------------------


def cmd_credentials(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from .credentials import KNOWN_SECRETS, CredentialStore, CredentialStoreError

    store = CredentialStore()
    try:
        if args.action == "set":
            if sys.stdin.isatty():
                import getpass

                value = getpass.getpass(f"{args.name} (not echoed): ")
            else:
                value = sys.stdin.read().rstrip("\r\n")
            if not value:
                raise CliError(f"no value for {args.name}: type it at the prompt or pipe it on standard input", 2)
            store.set(args.name, value)
            note = f" (while {args.name} is set in the environment, that value wins)" if os.environ.get(args.name) \
                else ""
            out(f"stored {args.name} in {store.path}{note}")
        elif args.action == "list":
            stored = store.catalog()
            for entry in stored:
                out(f"{entry.name:<24} stored {entry.updated_at}"
                    + ("  (overridden by the environment)" if entry.overridden_by_environment else ""))
            names = {entry.name for entry in stored}
            for name in KNOWN_SECRETS:
                if name not in names and os.environ.get(name):
                    out(f"{name:<24} from the environment only")
            if not stored:
                out(f"no credentials stored in {store.path}")
        elif args.action == "delete":
            if not store.delete(args.name):
                raise CliError(f"{args.name} is not in the credential store {store.path}")
            out(f"deleted {args.name} from {store.path}")
        else:  # rotate-key
            return _rotate_key(store, args, out)
    except CredentialStoreError as exc:
        raise CliError(str(exc)) from None
    return 0


def _rotate_key(store: Any, args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from .credentials import generate_key, write_private

    if not store.exists():
        raise CliError(f"there is no credential store at {store.path} to rotate", 2)
    count = len(store.catalog())  # the current key must open the store before anything changes
    if not os.environ.get("MLC_SECRET_KEY"):
        store.rotate_key()
        out(f"re-encrypted {count} credentials with a new key; {store.key_file} now holds it (back it up)")
        return 0
    # MLC_SECRET_KEY cannot be changed from here: hand the new key over before the store depends on it.
    new_key = generate_key()
    if args.key_file:
        write_private(Path(args.key_file), new_key + b"\n")
        store.rotate_key(new_key)
        out(f"re-encrypted {count} credentials; the new key is in {args.key_file} (mode 0600): set "
            f"MLC_SECRET_KEY to its contents, or unset it and set MLC_SECRET_KEY_FILE={args.key_file}")
    else:
        out("new key; set MLC_SECRET_KEY to it now (the old key no longer opens the store):")
        out(new_key.decode("ascii"))
        sys.stdout.flush()
        store.rotate_key(new_key)
        out(f"re-encrypted {count} credentials in {store.path}")
    return 0


def cmd_slack_app(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    import threading

    from .credentials import CredentialStore, CredentialStoreError
    from .slack_app.server import SlackAppServer, build_app, run_socket_mode

    try:
        store = CredentialStore()
        app = build_app(store=store, socket_mode=args.socket_mode)
        if args.socket_mode:
            token = store.require("SLACK_APP_TOKEN", "the app-level token, xapp-..., with connections:write")
            out("Slack app in Socket Mode: connecting out to Slack (no public endpoint needed); Ctrl-C stops")
            run_socket_mode(app, token, os.environ.get("SLACK_API_URL") or "https://slack.com/api/",
                            threading.Event())
            return 0
    except CredentialStoreError as exc:
        raise CliError(str(exc), 2) from None
    server = SlackAppServer(app, host=args.host, port=args.port).start()
    out(f"Slack app listening on {server.url} (Events API, interactivity and slash commands); Ctrl-C stops")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        out("note: listening beyond loopback; serve it to Slack through an HTTPS reverse proxy only")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()
        app.close(wait=False)


def _add_profile(command: argparse.ArgumentParser) -> None:
    command.add_argument("--profile", choices=PROFILES, default="v28",
                         help="tenant version: v28 answers only what Workday's published schema declares; "
                              "v46 also takes transaction-log criteria on invoices and payments (unconfirmed)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlc-dagster", description="Workday -> Slack finance alerts on Dagster")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run a business day end to end on the built-in sandboxes")
    demo.add_argument("--dir", default=".mlc-demo", help="demo folder (remade each run)")
    demo.add_argument("--day", help="business day YYYY-MM-DD (default: yesterday, UTC)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--scale", type=float, default=0.2, help="1.0 is about 5,000 invoices a day")
    _add_profile(demo)
    demo.set_defaults(handler=cmd_demo)

    sandbox = commands.add_parser("sandbox", help="run the Workday and Slack sandboxes alone")
    sandbox.add_argument("which", nargs="?", choices=["workday", "slack", "all"], default="all")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--workday-port", type=int, default=8701)
    sandbox.add_argument("--slack-port", type=int, default=8702)
    sandbox.add_argument("--day")
    sandbox.add_argument("--seed", type=int, default=7)
    sandbox.add_argument("--scale", type=float, default=1.0)
    _add_profile(sandbox)
    sandbox.set_defaults(handler=cmd_sandbox)

    replay = commands.add_parser("replay", help="re-materialize every window of a day, then deliver")
    replay.add_argument("--day", required=True)
    replay.add_argument("--no-deliver", action="store_true")
    replay.add_argument("--resend", action="store_true",
                        help="post the day's alerts again, even those already delivered")
    replay.set_defaults(handler=cmd_replay)

    audit = commands.add_parser("audit", help="poll cycles and messages posted, from run history")
    audit.add_argument("--since", required=True, help="YYYY-MM-DD, an ISO time, or 24h / 7d")
    audit.add_argument("--format", choices=["table", "csv", "json"], default="table")
    audit.set_defaults(handler=cmd_audit)

    doctor = commands.add_parser("doctor", help="check the configuration and ping Workday and Slack")
    doctor.set_defaults(handler=cmd_doctor)

    credentials = commands.add_parser(
        "credentials", help="the encrypted credential store (MLC_CREDENTIALS_PATH, key MLC_SECRET_KEY)")
    actions = credentials.add_subparsers(dest="action", required=True)
    store_set = actions.add_parser("set", help="store a secret; the value is read from the prompt or stdin")
    store_set.add_argument("name", help="the environment variable's name, e.g. WORKDAY_PASSWORD")
    actions.add_parser("list", help="names and dates of what is stored (never a value)")
    store_delete = actions.add_parser("delete", help="remove a secret")
    store_delete.add_argument("name")
    rotate = actions.add_parser("rotate-key", help="re-encrypt every credential under a new key")
    rotate.add_argument("--key-file", help="with MLC_SECRET_KEY: write the new key to this file (0600) "
                                           "instead of printing it")
    credentials.set_defaults(handler=cmd_credentials)

    slack_app = commands.add_parser("slack-app", help="serve Slack's requests: alert buttons, /mlc status|replay")
    slack_app.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    slack_app.add_argument("--port", type=int, default=3001)
    slack_app.add_argument("--socket-mode", action="store_true",
                           help="connect out over Socket Mode (SLACK_APP_TOKEN) instead of serving HTTP")
    slack_app.set_defaults(handler=cmd_slack_app)

    deliver_cmd = commands.add_parser("deliver", help="run slack_delivery once")
    deliver_cmd.set_defaults(handler=cmd_deliver)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Dagster's beta/preview notices are for developers of this project, not for its operators.
    warnings.filterwarnings("ignore", module="dagster")
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        return int(args.handler(args, out))
    except CliError as exc:
        print(f"mlc-dagster {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line, not a traceback, for anything unexpected
        print(f"mlc-dagster {args.command}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
