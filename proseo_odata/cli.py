"""The ``proseo-odata`` command line (click). Every command reads ``-c CONFIG.ini``.

The settings are the ``[app:main]`` section, read with plaster/PasteDeploy's loader so that
``%(here)s`` works exactly as under ``pserve``. See docs/cli.md.
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from proseo_odata.config import MAX_EVICTION_BATCH, SettingsFileError, configure, eviction_batch_size, read_settings_file
from proseo_odata.ingest import DEFAULT_BATCH_SIZE
from proseo_odata.model import Mission, Role, User, hash_password
from proseo_odata.model.entities import CONTROL_CHARACTERS
from proseo_odata.orphans import DEFAULT_MAX_REMOVE, DEFAULT_OLDER_THAN
from proseo_odata.storage import ConflictError, NotFoundError, StorageError

#: The largest ``archive orphans --older-than`` (hours: a hundred years; more overflowed a timedelta).
MAX_OLDER_THAN_HOURS = 100 * 366 * 24

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


#: How to point a command at its configuration (in messages).
CONFIG_HINT = "give the configuration with -c CONFIG.ini (or set PROSEO_CONFIG)"


def read_settings(config_uri: str) -> dict:
    """The ``[app:main]`` settings of an .ini file (``%(here)s`` expanded); a missing or unreadable
    file is a one-line ``click`` error (:func:`proseo_odata.config.read_settings_file`)."""
    try:
        return read_settings_file(config_uri)
    except SettingsFileError as exc:
        raise click.ClickException(str(exc)) from None


class Env:
    """Lazily read settings, and lazily built storage and archive, for one command run.

    ``storage`` checks the schema (``check_schema``): every command but ``initdb`` needs it.
    """

    def __init__(self, config_uri: str | None):
        self.config_uri = config_uri
        self._settings: dict | None = None
        self.core = None  # the CoreSettings, read with the settings
        self._storage = None
        self._archive = None

    @property
    def settings(self) -> dict:
        if self._settings is None:
            if not self.config_uri:
                raise click.ClickException(CONFIG_HINT)
            settings = read_settings(self.config_uri)
            try:
                # proseo.workers, proseo.datetime.fraction_digits (for what workers emit): read once
                self.core = configure(settings)
            except ValueError as exc:
                raise click.ClickException(f"{self.config_uri}: {exc}") from None
            self._settings = settings
        return self._settings

    def load_storage(self, *, check_schema: bool = True):
        if self._storage is None:
            from proseo_odata.secretbox import SecretsError
            from proseo_odata.storage import open_storage

            try:
                # StorageError (schema, database, backend): a one-line error (ProseoGroup)
                self._storage = open_storage(self.settings, check_schema=check_schema)
            except SecretsError as exc:
                raise click.ClickException(str(exc)) from None
        return self._storage

    @property
    def storage(self):
        return self.load_storage()

    def require_mission(self, code: str, *, hint: bool = False) -> None:
        """A one-line error unless the catalogue has mission ``code`` (``hint``: say how to add it)."""
        try:
            self.storage.get_mission(code)
        except NotFoundError:
            how = f" (add it with: proseo-odata -c ... mission add {code})" if hint else ""
            raise click.ClickException(f"no mission {code}{how}") from None

    @property
    def archive(self):
        if self._archive is None:
            from proseo_odata.archive import load_archive

            self._archive = load_archive(self.settings)
        return self._archive

    def close(self):
        if self._storage is not None:
            self._storage.close()


pass_env = click.make_pass_decorator(Env)


def one_line_error(exc: BaseException) -> "click.ClickException | None":
    """The one-line error for an environment or configuration problem a command ran into (None:
    not one of those, a bug that keeps its traceback)."""
    from proseo_odata.archive import ArchiveError
    from proseo_odata.production.workflows import WorkflowConfigError
    from proseo_odata.secretbox import SecretsError
    from proseo_odata.storage.errors import DatabaseUnavailableError, describe, driver_detail, is_database_error

    if isinstance(exc, (StorageError, ArchiveError, WorkflowConfigError, SecretsError)):
        message = " ".join(str(getattr(exc, "message", None) or exc).split())
        detail = driver_detail(exc) if isinstance(exc, DatabaseUnavailableError) else None
        return click.ClickException(message if not detail or detail in message else f"{message}: {detail}")
    if is_database_error(exc):
        detail = driver_detail(exc)
        return click.ClickException(f"database error: {describe(exc)}" + (f": {detail}" if detail else ""))
    if isinstance(exc, OSError) and exc.filename:
        return click.ClickException(f"{exc.filename}: {exc.strerror or exc}")
    if isinstance(exc, UnicodeError):  # an argument, a file or standard input that is not UTF-8
        reason = exc.reason if isinstance(exc, (UnicodeDecodeError, UnicodeEncodeError)) else str(exc)
        return click.ClickException(f"text that is not valid UTF-8 (an argument, a file or standard input): {reason}")
    return None


class ProseoGroup(click.Group):
    """The command group: turns environment problems into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - only known kinds are translated
            error = one_line_error(exc)
            if error is None:
                raise
            raise error from None


@click.group(cls=ProseoGroup, context_settings=CONTEXT_SETTINGS)
@click.option("-c", "--config", "config_uri", required=False, envvar="PROSEO_CONFIG", metavar="CONFIG.ini",
              help="The .ini file (its [app:main] section); or set PROSEO_CONFIG. Every command needs it.")
@click.pass_context
def main(ctx: click.Context, config_uri: str | None) -> None:
    """Administer a proseo-odata installation (PRIP and ODIP services).

    Start with: proseo-odata -c development.ini initdb
    """
    env = Env(config_uri)
    ctx.obj = env
    ctx.call_on_close(env.close)


@main.command()
@pass_env
def initdb(env: Env) -> None:
    """Create the database schema or upgrade it to the newest version (idempotent).

    Creates the SQLite file's folder and the local archive folder when they are missing.
    """
    storage = env.load_storage(check_schema=False)
    storage.initialize_schema()
    revision = getattr(storage, "schema_revision", lambda: None)()
    archive = env.archive  # creates the local archive folder
    click.echo(f"database ready (schema revision {revision or 'current'})")
    root = getattr(archive, "root", None)
    if root is not None:
        click.echo(f"archive folder: {root}")


# -- missions ---------------------------------------------------------------------------------


@main.group()
def mission() -> None:
    """Missions."""


@mission.command("add")
@click.argument("code")
@click.option("--name", default="", help="Human-readable mission name.")
@pass_env
def mission_add(env: Env, code: str, name: str) -> None:
    """Add mission CODE (for example S2B)."""
    try:
        env.storage.add_mission(Mission(code, name))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except ConflictError:
        raise click.ClickException(f"mission {code} already exists") from None
    click.echo(f"mission {code} added")


@mission.command("list")
@pass_env
def mission_list(env: Env) -> None:
    """List missions."""
    missions = env.storage.list_missions()
    for m in missions:
        click.echo(f"{m.code}\t{m.name}")
    if not missions:
        click.echo("no missions yet (add one with: proseo-odata -c ... mission add CODE)")


# -- users ------------------------------------------------------------------------------------


def _split_user(qualified: str) -> tuple[str, str]:
    for separator in ("\\", "/"):
        if separator in qualified:
            mission_code, name = qualified.split(separator, 1)
            if mission_code and name:
                return mission_code, name
    raise click.BadParameter(f"{qualified!r}: write MISSION\\NAME (for example DEMO\\alice)", param_hint="USER")


@main.group()
def user() -> None:
    """Users (log in as MISSION\\name)."""


@user.command("add")
@click.argument("qualified_name", metavar="MISSION\\NAME")
@click.option("--role", "roles", multiple=True, type=click.Choice([r.value for r in Role]),
              help="A role; repeat for several.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (first line).")
@click.option("--update", is_flag=True,
              help="Replace the password of an existing user, and its roles when --role is given.")
@pass_env
def user_add(env: Env, qualified_name: str, roles: tuple[str, ...], password_stdin: bool, update: bool) -> None:
    """Add user MISSION\\NAME with a password (hashed with scrypt) and roles."""
    mission_code, name = _split_user(qualified_name)
    if not update and (":" in name or not name.strip() or name != name.strip()
                       or CONTROL_CHARACTERS.search(name)):
        # HTTP Basic sends "user:password": a ':' in the name could never log in
        raise click.BadParameter(f"{name!r}: a user name has no ':', no control characters and no blanks at "
                                 "either end", param_hint="USER")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise click.ClickException("the password must not be empty")
    roles = tuple(sorted(set(roles)))  # --role X --role X: one X
    try:
        if update and not roles:  # a new password only: the roles stay
            roles = tuple(sorted(role.value for role in env.storage.get_user(mission_code, name).roles))
        account = User(mission_code, name, hash_password(password), frozenset(roles))
        if update:
            env.storage.update_user(account)
        else:
            env.storage.add_user(account)
    except NotFoundError as exc:
        raise click.ClickException(exc.message if not update else f"no user {mission_code}\\{name}") from None
    except ConflictError:
        raise click.ClickException(f"user {mission_code}\\{name} already exists (use --update)") from None
    click.echo(f"user {mission_code}\\{name} {'updated' if update else 'added'} with roles {', '.join(sorted(roles)) or '(none)'}")


@user.command("delete")
@click.argument("qualified_name", metavar="MISSION\\NAME")
@pass_env
def user_delete(env: Env, qualified_name: str) -> None:
    """Delete user MISSION\\NAME: its passwords and bearer tokens stop working (in every server
    process within proseo.storage.user_cache.ttl seconds)."""
    mission_code, name = _split_user(qualified_name)
    try:
        env.storage.delete_user(mission_code, name)
    except NotFoundError:
        raise click.ClickException(f"no user {mission_code}\\{name}") from None
    click.echo(f"user {mission_code}\\{name} deleted")


@user.command("list")
@click.option("--mission", "mission_code", default=None, help="Only this mission.")
@pass_env
def user_list(env: Env, mission_code: str | None) -> None:
    """List users and their roles."""
    if mission_code is not None:
        env.require_mission(mission_code)  # an unknown mission is an error, as for every command
    accounts = env.storage.list_users(mission_code)
    for account in accounts:
        click.echo(f"{account.qualified_name}\t{','.join(sorted(account.roles))}")
    if not accounts:
        where = f" in mission {mission_code}" if mission_code else ""
        click.echo(f"no users{where} yet (add one with: proseo-odata -c ... user add MISSION\\NAME)")


# -- demo data --------------------------------------------------------------------------------


@main.group()
def secrets() -> None:
    """Notification passwords at rest (proseo.secrets.key; see docs/configuration.md)."""


@secrets.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new random key for proseo.secrets.key (or a line of proseo.secrets.key_file)."""
    from proseo_odata.secretbox import generate_key

    click.echo(generate_key())


@secrets.command("rotate")
@pass_env
def secrets_rotate(env: Env) -> None:
    """Seal every stored notification password again with the first configured key.

    Rotation: put the new key first in proseo.secrets.key, keep the old ones after it, run this,
    then remove the old keys. Also seals passwords stored while no key was set."""
    storage = env.storage
    if not storage.secrets.has_key:
        raise click.ClickException("no key in proseo.secrets.key or proseo.secrets.key_file: there is no key to seal with")
    resealed, unreadable = storage.reseal_secrets()
    click.echo(f"resealed {resealed} stored password(s) with the first key")
    if unreadable:
        raise click.ClickException(
            f"{unreadable} stored password(s) cannot be opened with the configured keys (left unchanged)"
        )


@main.command("demo-data")
@pass_env
def demo_data(env: Env) -> None:
    """Load the DEMO mission, its users, products (with files) and workflows. Idempotent."""
    import importlib.util

    if importlib.util.find_spec("PIL") is None:  # the demo's image files
        raise click.ClickException("demo-data needs Pillow, which is not installed: pip install 'proseo-odata[image]'")
    from proseo_odata.demo.data import load_demo_data

    summary = load_demo_data(env.storage, env.archive, env.settings)
    click.echo(
        f"mission DEMO {'created' if summary.mission_created else 'present'}; "
        f"users created: {', '.join(summary.users_created) or 'none'}; "
        f"products: {summary.products_created} created, {summary.products_existing} present; "
        f"workflows: {', '.join(summary.workflows) or 'none'}"
    )
    if summary.users_created:
        click.echo("log in as DEMO\\demo (password demo) or DEMO\\manager (password manager)")


# -- workflows --------------------------------------------------------------------------------


@main.group("workflows")
def workflows_group() -> None:
    """Production workflows (ODIP)."""


@workflows_group.command("sync")
@pass_env
def workflows_sync(env: Env) -> None:
    """Store the configured workflows: the proseo.workflows.file file(s) and the installed mission
    plug-ins (new ones added, changed ones updated by mission and name). Creates no mission and
    no user; run it after installing or changing a plug-in (pserve also does at start)."""
    from proseo_odata.production.workflows import sync_configured_workflows

    skipped: list = []
    stored = sync_configured_workflows(env.storage, env.settings, skipped=skipped)
    for workflow in stored:
        state = "enabled" if workflow.enabled else "disabled"
        click.echo(f"{workflow.mission}\t{workflow.name}\t{workflow.workflow_version}\t{state}")
    for workflow in skipped:
        click.echo(f"skipped {workflow.mission}/{workflow.name}: no mission {workflow.mission} here "
                   f"(add it with: proseo-odata -c ... mission add {workflow.mission})")
    if not stored and not skipped:
        click.echo("no workflows configured (proseo.workflows.file, installed mission plug-ins)")
    else:
        click.echo(f"{len(stored)} workflow(s) stored" + (f", {len(skipped)} skipped" if skipped else ""))


@workflows_group.command("list")
@click.option("--mission", "mission_code", default=None, help="Only this mission.")
@pass_env
def workflows_list(env: Env, mission_code: str | None) -> None:
    """List the stored workflows."""
    if mission_code:
        env.require_mission(mission_code)
    codes = [mission_code] if mission_code else [m.code for m in env.storage.list_missions()]
    found = 0
    for code in codes:
        for workflow in env.storage.list_workflows(code):
            state = "enabled" if workflow.enabled else "disabled"
            click.echo(f"{workflow.mission}\t{workflow.name}\t{workflow.workflow_version}\t{state}\t{workflow.id}")
            found += 1
    if not found:
        where = f" in mission {mission_code}" if mission_code else ""
        click.echo(f"no workflows{where} yet (store the configured ones with: proseo-odata -c ... workflows sync)")


# -- ingest -----------------------------------------------------------------------------------


def _collect(files: tuple[str, ...]):
    """(path, metadata-or-None, source) for every product the arguments name."""
    from proseo_odata.ingest import read_manifest

    for argument in files:
        path = Path(argument)
        if path.is_dir():
            for child in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
                yield child, None, str(child)
        elif path.suffix.lower() in (".jsonl", ".ndjson"):
            for entry in read_manifest(path):
                yield entry.path, entry.metadata, f"{path}:{entry.line}"
        else:
            yield path, None, str(path)


@main.command()
@click.option("--mission", "mission_code", required=True, help="Mission the products belong to.")
@click.option("--metadata", "metadata_file", type=click.Path(exists=True, dir_okay=False),
              help="PRIP Product JSON for the (single) FILE.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar (default: on a terminal, for more than one file or a manifest).")
@click.option("--manifest", "manifest_file", type=click.Path(exists=True, dir_okay=False),
              help="Bulk ingest: a JSON-lines manifest, ingested in batches; bad lines are reported "
                   "and skipped, products already present are skipped (safe to re-run).")
@click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True, type=click.IntRange(min=1),
              help="With --manifest: products per transaction.")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=1, max=64),
              help="With --manifest: threads copying and hashing files.")
@click.option("--parsers", default=None, type=click.IntRange(min=0, max=64),
              help="With --manifest: processes reading and checking the lines (0: none; default: "
                   "proseo.ingest.parsers, else 1 for manifests from 4 MiB on a machine with 2 or more CPUs).")
@click.option("--writers", default=None, type=click.IntRange(min=1, max=8),
              help="With --manifest: batches written at once, each in its own transaction "
                   "(default: 2 on PostgreSQL, 1 on SQLite).")
@click.argument("files", nargs=-1, type=click.Path(exists=True))
@pass_env
def ingest(env: Env, mission_code: str, metadata_file: str | None, progress: bool | None,
           manifest_file: str | None, batch_size: int, workers: int, parsers: int | None,
           writers: int | None, files: tuple[str, ...]) -> None:
    """Copy FILE... into the archive (hashing MD5 and SHA-256) and publish them as products.

    FILE may be a product file, a folder (each file in it), or a JSON-lines manifest
    (*.jsonl: one PRIP Product object per line with "file": path). Stops at the first
    problem; what was ingested before it stays.

    --manifest FILE.jsonl is the bulk path (docs/cli.md): batches of --batch-size products
    per transaction, lines checked by --parsers processes, files copied by --workers threads,
    "archive_key" lines registered by reference without a copy, known Names skipped, each bad
    line reported with its number.
    """
    from proseo_odata.ingest import MetadataError, ingest_file

    if manifest_file is not None:
        if files or metadata_file:
            raise click.UsageError("--manifest takes no FILE arguments and no --metadata")
        if parsers is None:
            from proseo_odata.config import ingest_parsers

            try:
                parsers = ingest_parsers(env.settings)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None
        _ingest_manifest(env, mission_code, manifest_file, batch_size, workers, parsers, writers, progress)
        return
    if not files:
        raise click.UsageError("give FILE... to ingest (or --manifest FILE.jsonl)")
    metadata = None
    if metadata_file:
        try:
            with open(metadata_file, encoding="utf-8-sig") as handle:
                metadata = json.load(handle)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{metadata_file}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"{metadata_file}: not UTF-8 text (byte {exc.start + 1})") from None
    try:
        entries = list(_collect(files))
    except MetadataError as exc:
        raise click.ClickException(str(exc)) from None
    if metadata is not None and len(entries) != 1:
        raise click.UsageError("--metadata describes one product: give exactly one FILE")
    env.require_mission(mission_code, hint=True)
    if not entries:
        click.echo(f"nothing to ingest: no product files in {', '.join(files)}")
        return
    show = progress if progress is not None else len(entries) > 1
    bar = None
    if show:
        from tqdm import tqdm

        # on a terminal only unless asked for (as --manifest): not into a cron job's log
        bar = tqdm(total=len(entries), unit="product", file=sys.stderr, disable=None if progress is None else False)
    done = 0
    with contextlib.ExitStack() as stack:
        if bar is not None:
            stack.callback(bar.close)
        for path, entry_metadata, source in entries:
            try:
                product = ingest_file(
                    env.storage, env.archive, mission_code, path,
                    metadata if metadata is not None else entry_metadata,
                    source=metadata_file or source,
                )
            except MetadataError as exc:
                raise click.ClickException(f"{exc} (nothing stored for {path}; {done} ingested before)") from None
            except (ConflictError, NotFoundError) as exc:
                raise click.ClickException(f"{path}: {exc.message} ({done} ingested before)") from None
            done += 1
            if bar is not None:
                bar.update(1)
            else:
                click.echo(f"{product.id}\t{product.name}\t{product.content_length} bytes")
    env.storage.refresh_statistics(done)  # the planner's statistics after a large share (best effort)
    if bar is not None:
        click.echo(f"{done} product(s) ingested into mission {mission_code}")


def _ingest_manifest(env: Env, mission_code: str, manifest: str, batch_size: int, workers: int,
                     parsers: int | None, writers: int | None, progress: bool | None) -> None:
    """``ingest --manifest``: :func:`proseo_odata.ingest.ingest_manifest` with a progress bar;
    one summary line, then each failed line on stderr; exit status 1 when a line failed. An
    interrupt (Ctrl-C) or a dead parser process ends it with one line saying what stays."""
    from proseo_odata.ingest import IngestError, ingest_manifest

    env.require_mission(mission_code, hint=True)
    bar = None
    if progress is not False:
        from tqdm import tqdm

        with open(manifest, "rb") as handle:
            total = sum(1 for line in handle  # (the first line's byte order mark is not part of it)
                        if line.removeprefix(b"\xef\xbb\xbf").strip() and not line.lstrip().removeprefix(b"\xef\xbb\xbf").startswith(b"#"))
        bar = tqdm(total=total, unit="product", file=sys.stderr, disable=None if progress is None else False)
    handled = []

    def advance(lines: int) -> None:
        handled.append(lines)
        if bar is not None:
            bar.update(lines)

    try:
        report = ingest_manifest(env.storage, env.archive, mission_code, manifest, batch_size=batch_size,
                                 workers=workers, parsers=parsers, writers=writers, progress=advance)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        click.echo(f"interrupted: the {sum(handled)} line(s) of the batches committed before stay; "
                   "re-run the same command to continue", err=True)
        raise SystemExit(130) from None
    except IngestError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    click.echo(
        f"{report.ingested} product(s) ingested into mission {mission_code} ({report.referenced} by reference), "
        f"{report.skipped} already present, {len(report.failed)} line(s) failed; "
        f"{report.notified} subscription notification(s); {report.rate:.0f} lines/s"
    )
    for line, message in report.failed:
        click.echo(f"{manifest}:{line}: {message}", err=True)
    if report.failed:
        raise SystemExit(1)


_FILTER_HELP = "Only the products matching this OData $filter (e.g. \"PublicationDate gt 2026-01-01T00:00:00Z\")."


def _products_filter(filter_text: str | None):
    """The bound filter of a ``--filter`` text for the Product entity type (None for none)."""
    from proseo_odata.errors import InvalidQuery
    from proseo_odata.query import build_query

    if filter_text is None:
        return None
    try:
        return build_query("Products", {"$filter": filter_text}).query.filter
    except InvalidQuery as exc:
        raise click.ClickException(f"--filter: {exc.message}") from None


@main.command("export")
@click.option("--mission", "mission_code", required=True, help="Mission whose products are written.")
@click.option("--filter", "filter_text", default=None, help=_FILTER_HELP)
@click.option("--output", "-o", "output", default="-", show_default=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="The manifest file (written beside it as FILE.<random>.part, renamed when complete); -: standard output.")
@pass_env
def export(env: Env, mission_code: str, filter_text: str | None, output: str) -> None:
    """Write the mission's products as a JSON-lines manifest that `ingest --manifest` reads back
    (by reference: each line's "archive_key" names the product's file, nothing is copied).

    For moving a catalogue to another database that shares the archive (SQLite to PostgreSQL),
    and for a logical copy of the catalogue (docs/cli.md, "export")."""
    import os

    from proseo_odata.export import export_products

    env.require_mission(mission_code)
    query_filter = _products_filter(filter_text)
    if output == "-":
        stream = sys.stdout.buffer
        try:
            report = export_products(env.storage, mission_code, stream.write, query_filter=query_filter)
            stream.flush()
        except BrokenPipeError:  # `export ... | head`: the reader has gone, nothing more to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(141) from None
        except OSError as exc:  # a full disk behind > FILE
            raise click.ClickException(f"standard output: {exc.strerror or exc}") from None
    else:
        import stat
        import tempfile

        output = os.path.realpath(output)  # a symbolic link: its target is written, the link stays
        if os.path.exists(output) and not stat.S_ISREG(os.stat(output).st_mode):
            # a device or a pipe (/dev/null, a FIFO): written in place, never replaced by a file
            try:
                with open(output, "wb") as handle:
                    report = export_products(env.storage, mission_code, handle.write, query_filter=query_filter)
            except OSError as exc:  # /dev/full
                raise click.ClickException(f"{output}: {exc.strerror or exc}") from None
            _export_summary(report, mission_code)
            return
        folder, name = os.path.split(output)
        # FILE.<random>.part beside FILE (two exports to one FILE do not mix), renamed when complete
        try:
            descriptor, partial = tempfile.mkstemp(dir=folder, prefix=name + ".", suffix=".part")
        except OSError as exc:
            raise click.ClickException(f"{output}: {exc.strerror or exc}") from None
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(descriptor, 0o666 & ~umask)  # as open() would create it (mkstemp: 0600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                report = export_products(env.storage, mission_code, handle.write, query_filter=query_filter)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, output)
            directory = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(directory)  # the rename itself survives a crash
            finally:
                os.close(directory)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise
    _export_summary(report, mission_code)


def _export_summary(report, mission_code: str) -> None:
    click.echo(f"{report.exported} product(s) of mission {mission_code} exported", err=True)
    for product_id in report.without_file:
        click.echo(f"left out: product {product_id} has no file (no manifest line can name it)", err=True)
    if report.without_file:
        raise SystemExit(1)


# Production workers: `proseo-odata -c production.ini worker` (proseo_odata/production/command.py).
from proseo_odata.production.command import worker_command  # noqa: E402

main.add_command(worker_command)



# -- eviction ---------------------------------------------------------------------------------


@main.command()
@click.option("--batch-size", default=None, type=click.IntRange(min=1, max=MAX_EVICTION_BATCH),
              help="Products per transaction (default: proseo.eviction.batch_size, else 100).")
@pass_env
def evict(env: Env, batch_size: int | None) -> None:
    """Remove products past their EvictionDate from the catalogue, then their files from the archive."""
    from proseo_odata.eviction import evict_due_products

    try:
        size = batch_size or eviction_batch_size(env.settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    report = evict_due_products(env.storage, env.archive, batch_size=size)
    click.echo(f"{report.products} product(s) evicted, {report.files} file(s) deleted")
    for key, error in report.file_errors:
        click.echo(f"could not delete {key}: {error}", err=True)
    if report.file_errors:
        raise SystemExit(1)


# -- archive maintenance ----------------------------------------------------------------------


@main.group("archive")
def archive_group() -> None:
    """Maintenance of the product archive (proseo.archive.*)."""


@archive_group.command("orphans")
@click.option("--older-than", "older_than", default=DEFAULT_OLDER_THAN.total_seconds() / 3600, show_default=True,
              type=click.FloatRange(min=0, max=MAX_OLDER_THAN_HOURS),
              help="Hours: younger files are never orphans (a product may be about to name them).")
@click.option("--prefix", default="", help="Only keys starting so (for example a mission's code and '/').")
@click.option("--remove", is_flag=True, help="Remove the orphans (without it, only list them).")
@click.option("--max-remove", "max_remove", default=DEFAULT_MAX_REMOVE, show_default=True, type=click.IntRange(min=0),
              help="With --remove: when more orphans are found, remove none (a catalogue restored "
                   "from an older backup makes every file stored since look orphaned).")
@pass_env
def archive_orphans(env: Env, older_than: float, prefix: str, remove: bool, max_remove: int) -> None:
    """List (or remove) files the service wrote that no product names any more.

    Only keys the service makes are considered (MISSION/<product Id>/..., and the temporary
    files of interrupted writes); files put in the archive by hand are never touched."""
    from datetime import timedelta

    from proseo_odata.archive import UnfinishedUpload
    from proseo_odata.orphans import remove_orphans

    if older_than != older_than:  # NaN passes FloatRange's comparisons
        raise click.BadParameter("a number of hours, not NaN", param_hint="--older-than")

    def found(item) -> None:
        if isinstance(item, UnfinishedUpload):
            click.echo(f"{item.key}\tunfinished upload\t{item.started.isoformat(timespec='seconds')}")
        else:
            click.echo(f"{item.key}\t{item.size}\t{item.modified.isoformat(timespec='seconds')}")

    try:
        report = remove_orphans(env.storage, env.archive, older_than=timedelta(hours=older_than), prefix=prefix,
                                remove=remove, max_remove=max_remove, found=found)
    except NotImplementedError:
        raise click.ClickException("this archive or storage backend cannot list its files") from None
    summary = f"{len(report.files)} orphan file(s), {report.bytes} byte(s), older than {older_than:g} h"
    if report.uploads:
        summary += f"; {len(report.uploads)} unfinished upload(s)"
    if report.refused:
        summary += (f"; none removed: more than --max-remove {max_remove} (list them first; after a "
                    f"catalogue restore, register them again rather than removing them)")
    elif remove:
        summary += f"; {report.removed} removed" + (f", {report.aborted} aborted" if report.uploads else "")
    click.echo(summary, err=True)
    if report.refused:
        raise SystemExit(3)  # (2 is click's for a usage error)
    for key, error in report.errors:
        click.echo(f"could not remove {key}: {error}", err=True)
    if report.errors:
        raise SystemExit(1)


@archive_group.command("check")
@click.option("--mission", "mission_code", required=True, help="Mission whose products' files are looked at.")
@click.option("--filter", "filter_text", default=None, help=_FILTER_HELP)
@click.option("--checksums", is_flag=True,
              help="Read every file whole and compare its MD5 and SHA-256 with the recorded ones "
                   "(without it: presence and size only).")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="Files looked at together (default: 2 for a local archive folder, 8 for S3).")
@pass_env
def archive_check(env: Env, mission_code: str, filter_text: str | None, checksums: bool, workers: int) -> None:
    """List the mission's products whose file is missing from the archive, has another size
    than their ContentLength or (--checksums) other bytes than their recorded checksums.

    One line each on stdout (Id, Name, archive key, problem, detail, tab-separated), a summary
    on stderr. Exit status: 0 all as recorded, 3 products listed, 1 the check failed, 130
    interrupted."""
    from proseo_odata.fixity import check_products

    env.require_mission(mission_code)
    query_filter = _products_filter(filter_text)

    def found(finding) -> None:
        click.echo(f"{finding.product_id}\t{finding.name}\t{finding.key}\t{finding.problem}\t{finding.detail}")

    try:
        report = check_products(env.storage, env.archive, mission_code, query_filter=query_filter,
                                checksums=checksums, workers=workers, found=found)
    except KeyboardInterrupt:
        click.echo("interrupted: the products listed before were all that were checked", err=True)
        raise SystemExit(130) from None
    summary = f"{report.checked} product file(s) of mission {mission_code} checked"
    if checksums:
        summary += f" ({report.read} read, {report.bytes_read} byte(s))"
    words = {"missing": "missing", "size": "of another size", "checksum": "with other bytes (checksum)",
             "unreadable": "unreadable"}
    problems = ", ".join(f"{report.problems[problem]} {text}" for problem, text in words.items() if problem in report.problems)
    summary += f": {problems or 'all present and as recorded'}"
    if report.without_file:
        summary += f"; {report.without_file} product(s) without a file"
    click.echo(summary, err=True)
    if report.found:
        raise SystemExit(3)  # (1: the check itself failed; 2: click's usage error)


@archive_group.command("quicklooks")
@click.option("--mission", "mission_code", required=True, help="Mission whose products' files are searched.")
@click.option("--filter", "filter_text", default=None, help=_FILTER_HELP)
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="Files searched together (default: 2 for a local archive folder, 8 for S3).")
@click.option("--again", is_flag=True,
              help="Also search the files searched before without a quicklook found (after a change "
                   "of proseo.quicklook.names).")
@pass_env
def archive_quicklooks(env: Env, mission_code: str, filter_text: str | None, workers: int | None,
                       again: bool) -> None:
    """Find and record the quicklook of each of the mission's products whose file was never
    searched for one (stored before schema revision 0015, or registered by reference with their
    checksums): the picture among its Nodes that its QUICKLOOK asset serves (docs/prip.md,
    "Quicklooks").

    A summary on stderr. Safe to run again: a file searched (with a quicklook found or none) is not
    read again, unless --again asks for those without one."""
    from proseo_odata.quicklooks import find_quicklooks

    env.require_mission(mission_code)
    query_filter = _products_filter(filter_text)
    report = find_quicklooks(env.storage, env.archive, mission_code, query_filter=query_filter, workers=workers,
                             again=again)
    summary = (f"{report.looked} product file(s) of mission {mission_code} searched: "
               f"{report.found} quicklook(s) recorded, {report.none} without one")
    if report.unreadable:
        summary += f"; {report.unreadable} not readable (logged; nothing recorded)"
    if report.changed:
        summary += f"; {report.changed} product(s) changed meanwhile, not written (run it again)"
    click.echo(summary, err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
