"""What an operator's slips and odd surroundings give the command line: one line and a non-zero
status, never a traceback, and nothing written where it should not be (a second review of the
commands, 2026-12-06). SQLite; each command through click's runner or a real process."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from site_ini import WORKFLOWS, write_ini

from proseo_odata.cli import main


@pytest.fixture
def ini(tmp_path, sqlite_url):
    path = write_ini(tmp_path, sqlite_url)
    assert CliRunner().invoke(main, ["-c", str(path), "initdb"]).exit_code == 0
    return path


def _run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=True)


def _one_line(result, *expected: str, code: int | None = None) -> str:
    assert result.exit_code != 0 and (code is None or result.exit_code == code), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(("Usage:", "Try "))]
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _with_setting(ini, key: str, value: str):
    text = ini.read_text(encoding="utf-8").replace("[app:main]\n", f"[app:main]\n{key} = {value}\n", 1)
    other = ini.with_name(f"with-{key.rsplit('.', 1)[-1]}.ini")
    other.write_text(text, encoding="utf-8")
    return other


def test_export_follows_a_symbolic_link_and_creates_files_as_the_umask_says(ini, tmp_path):
    assert _run("-c", str(ini), "mission", "add", "S2B").exit_code == 0
    target, link = tmp_path / "target.jsonl", tmp_path / "link.jsonl"
    link.symlink_to(target)
    assert _run("-c", str(ini), "export", "--mission", "S2B", "-o", str(link)).exit_code == 0
    assert link.is_symlink() and target.is_file()  # the link was replaced by a file before
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # mkstemp's 0600 before
    _one_line(_run("-c", str(ini), "export", "--mission", "S2B", "-o", str(tmp_path / "nowhere" / "x.jsonl")),
              str(tmp_path / "nowhere" / "x.jsonl"), "No such file")


def test_export_into_a_pipe_writes_it_and_leaves_it_a_pipe(ini, tmp_path):
    assert _run("-c", str(ini), "mission", "add", "S2B").exit_code == 0
    fifo = tmp_path / "manifest.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        assert _run("-c", str(ini), "export", "--mission", "S2B", "-o", str(fifo)).exit_code == 0
    finally:
        out, _ = reader.communicate(timeout=30)
    assert out == b"" and fifo.is_fifo()  # the mission is empty; a device or pipe became a file before


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_export_to_a_full_disk_is_one_line(ini, tmp_path):
    assert _run("-c", str(ini), "mission", "add", "S2B").exit_code == 0
    (tmp_path / "p.zip").write_bytes(b"x")
    assert _run("-c", str(ini), "ingest", "--mission", "S2B", str(tmp_path / "p.zip")).exit_code == 0
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "proseo_odata.cli", "-c", str(ini), "export", "--mission", "S2B"],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "Error: standard output: No space left on device"


@pytest.mark.parametrize("value", ["nan", "inf", "1e20"])
def test_archive_orphans_refuses_an_age_it_cannot_use(ini, value):
    result = _run("-c", str(ini), "archive", "orphans", "--older-than", value)
    assert result.exit_code == 2 and "--older-than" in result.stderr, result.output


def test_evict_batch_sizes(ini):
    result = _run("-c", str(ini), "evict", "--batch-size", "99999999999999999999")
    assert result.exit_code == 2 and "--batch-size" in result.stderr and "$filter" not in result.stderr
    for value in ("abc", "0"):
        _one_line(_run("-c", str(_with_setting(ini, "proseo.eviction.batch_size", value)), "evict"),
                  "proseo.eviction.batch_size")


def test_bad_storage_settings_are_one_line_without_the_password(ini, tmp_path):
    _one_line(_run("-c", str(_with_setting(ini, "proseo.storage.pool_size", "abc")), "mission", "list"),
              "proseo.storage.pool_size")
    for url, said in (("postgresql://u:secret-pw@127.0.0.1:notaport/db", "cannot be read"),
                      ("not a url", "cannot be read"), ("sqlte:///x.db", "'sqlte'"),
                      # a password holding '@' unencoded: the rest was a host name the driver repeated
                      ("postgresql://u:secret-pw@tail-of-it@127.0.0.1:5432/db", "%40")):
        line = _one_line(_run("-c", str(write_ini(tmp_path / url.split(":")[0].replace(" ", "_"), url)), "mission", "list"),
                         "proseo.storage.url", said)
        assert "secret-pw" not in line and "tail-of-it" not in line


@pytest.mark.parametrize("garbage", ["garbage before any section\n", None])
def test_the_worker_reads_a_broken_ini_as_every_command_does(ini, tmp_path, garbage):
    broken = tmp_path / "broken.ini"
    text = ini.read_text(encoding="utf-8")
    broken.write_text(garbage + text if garbage else text.replace("%(here)s", "%(hear)s"), encoding="utf-8")
    _one_line(_run("-c", str(broken), "worker"), "broken.ini", "[app:main]")


@pytest.mark.parametrize("mistake, said", [
    # a percent-encoded password: configparser's interpolation error quoted the URL from the '%' on
    ("proseo.archive.s3.secret_key = Top%40Secret-99\n", "'%%'"),
    # a line without '=': configparser quoted the whole line
    ("proseo.token.secret Top-Secret-99\n", "line"),
    # an indented key is the previous value's continuation: "must be an integer, got '3600\n...'"
    ("proseo.workers = 2\n  proseo.secrets.key = Top-Secret-99\n", "indented"),
])
def test_a_broken_ini_is_one_line_without_its_values(ini, tmp_path, mistake, said):
    broken = tmp_path / "secret.ini"
    broken.write_text(ini.read_text(encoding="utf-8").replace("[app:main]\n", "[app:main]\n" + mistake, 1),
                      encoding="utf-8")
    line = _one_line(_run("-c", str(broken), "mission", "list"), said)
    assert "Secret" not in line, line


@pytest.mark.parametrize("value, enabled", [("ture", None), ("off", False), ("Yes", True), ("", False)])
def test_a_flag_is_true_false_or_refused(ini, value, enabled):
    """``proseo.notify.dispatcher = ture`` turned notifications off without a word."""
    from proseo_odata.config import as_bool

    if enabled is None:
        with pytest.raises(ValueError, match="proseo.notify.dispatcher must be true or false.*'ture'"):
            as_bool(value, True, key="proseo.notify.dispatcher")
        _one_line(_run("-c", str(_with_setting(ini, "proseo.notify.dispatcher", value)), "worker"),
                  "proseo.notify.dispatcher must be true or false")
    else:
        assert as_bool(value, True, key="proseo.notify.dispatcher") is enabled


def test_worker_threads_have_a_ceiling(ini):
    result = _run("-c", str(ini), "worker", "-t", "99999999999999999999")
    assert result.exit_code == 2 and "--threads" in result.stderr, result.output
    _one_line(_run("-c", str(_with_setting(ini, "proseo.workers", "100000")), "worker"), "proseo.workers")


@pytest.mark.parametrize("key, value", [("proseo.production.lease_seconds", "abc"),
                                        ("proseo.production.fault_pause_seconds", "9999"),
                                        ("proseo.notify.max_attempts", "x")])
def test_the_worker_refuses_a_bad_number_of_its_pool_in_one_line(ini, key, value):
    """The pool's own settings are checked with the others, before it starts (a traceback before)."""
    _one_line(_run("-c", str(_with_setting(ini, key, value)), "worker"), key, repr(value), code=1)


def test_initdb_on_a_schema_of_a_newer_release_is_one_line(ini, sqlite_url):
    import sqlalchemy as sa

    engine = sa.create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    _one_line(_run("-c", str(ini), "initdb"), "9999_future", "unknown to this version", code=1)
    _one_line(_run("-c", str(ini), "mission", "list"), "9999_future", "unknown to this version", code=1)


def test_text_that_is_not_utf8_is_one_line(ini, tmp_path):
    assert _run("-c", str(ini), "mission", "add", "S2B").exit_code == 0
    not_utf8 = os.fsdecode(b"S2B\xff")  # what the shell hands Python for such an argument
    _one_line(_run("-c", str(ini), "user", "list", "--mission", not_utf8), "not valid UTF-8")
    _one_line(_run("-c", str(ini), "user", "add", "S2B\\eve", "--role", "PRIP_USER", "--password-stdin",
                   input=b"\xff\xfe\n"), "not valid UTF-8")


def test_a_manifest_line_that_is_not_utf8_fails_alone(ini, tmp_path):
    assert _run("-c", str(ini), "mission", "add", "S2B").exit_code == 0
    folder = tmp_path / "in"
    folder.mkdir()
    for n in (1, 2, 3):
        (folder / f"p{n}.zip").write_bytes(b"data %d" % n)
    (folder / "m.jsonl").write_bytes(b'{"file": "p1.zip"}\n{"file": "p2.zip", "Name": "P\xff2.zip"}\n{"file": "p3.zip"}\n')
    for parsers in ("0", "1"):
        result = _run("-c", str(ini), "ingest", "--mission", "S2B", "--manifest", str(folder / "m.jsonl"),
                      "--parsers", parsers, "--no-progress")
        assert result.exit_code == 1, result.output
        assert "m.jsonl:2" in result.stderr and "not UTF-8" in result.stderr, result.stderr
    listed = _run("-c", str(ini), "export", "--mission", "S2B")
    assert sorted(json.loads(line)["Name"] for line in listed.stdout.splitlines()) == ["p1.zip", "p3.zip"]


def test_a_workflow_retention_past_year_9999_is_refused_at_sync(ini, tmp_path):
    workflows = json.loads(WORKFLOWS.read_text(encoding="utf-8"))
    for workflow in workflows["workflows"]:
        workflow["output_retention_days"] = 3_000_000
    (tmp_path / "workflows.json").write_text(json.dumps(workflows), encoding="utf-8")
    other = _with_setting(ini, "proseo.workflows.file", str(tmp_path / "workflows.json")).read_text(encoding="utf-8")
    other = other.replace(f"proseo.workflows.file = {WORKFLOWS}\n", "", 1)
    (tmp_path / "retention.ini").write_text(other, encoding="utf-8")
    assert _run("-c", str(tmp_path / "retention.ini"), "mission", "add", "DEMO").exit_code == 0
    _one_line(_run("-c", str(tmp_path / "retention.ini"), "workflows", "sync"), "output_retention_days", "36525")


@pytest.mark.parametrize("code", ["..", "X/Y", "S2-B", " S2B", "A\x01", "S" * 65])
def test_a_new_mission_code_is_letters_digits_or_underscores(ini, code):
    """'..' made every ingest fail (no archive key) and 'X/Y' hid its orphans from `archive orphans`."""
    _one_line(_run("-c", str(ini), "mission", "add", code), "invalid mission code")
    assert _run("-c", str(ini), "mission", "add", "S2_B1").exit_code == 0


@pytest.mark.parametrize("name", ["a:b", " ", "eve ", "e\tve"])
def test_a_new_user_name_can_log_in_with_basic_auth(ini, name):
    """'S2B\\a:b' was stored, and HTTP Basic ("user:password") could never send it."""
    assert _run("-c", str(ini), "mission", "add", "S2B").exit_code == 0
    result = _run("-c", str(ini), "user", "add", f"S2B\\{name}", "--role", "PRIP_USER", "--password-stdin", input="pw\n")
    assert result.exit_code == 2 and "USER" in result.stderr, result.output
    added = _run("-c", str(ini), "user", "add", "S2B\\eve", "--role", "PRIP_USER", "--role", "PRIP_USER",
                 "--password-stdin", input="pw\n")
    assert added.exit_code == 0 and added.stdout.strip().endswith("with roles PRIP_USER"), added.output


def test_user_delete(ini):
    assert _run("-c", str(ini), "mission", "add", "S2B").exit_code == 0
    assert _run("-c", str(ini), "user", "add", "S2B\\eve", "--role", "PRIP_USER", "--password-stdin",
                input="pw\n").exit_code == 0
    deleted = _run("-c", str(ini), "user", "delete", "S2B\\eve")
    assert deleted.exit_code == 0 and "deleted" in deleted.stdout
    assert "S2B\\eve" not in _run("-c", str(ini), "user", "list").stdout
    _one_line(_run("-c", str(ini), "user", "delete", "S2B\\eve"), "no user S2B\\eve")


@pytest.mark.postgresql
def test_a_database_that_refuses_says_why(tmp_path, pg_server_url):
    """Every refusal read "cannot reach the database: OperationalError": a wrong password, a
    missing database, a closed port alike. The driver's reason is said now (never the password)."""
    from sqlalchemy.engine import make_url

    url = make_url(pg_server_url).set(database="no_such_database", password="secret-pw")
    ini = write_ini(tmp_path, url.render_as_string(hide_password=False))
    for command in (["mission", "list"], ["initdb"]):
        line = _one_line(_run("-c", str(ini), *command), 'database "no_such_database" does not exist')
        assert "secret-pw" not in line


BOM = "\ufeff".encode("utf-8")


def test_files_saved_with_a_byte_order_mark_are_read(ini, tmp_path):
    """Windows editors and PowerShell's Out-File start UTF-8 files with a byte order mark: the
    manifest's first line, a --metadata file, a workflows file and a key file were refused."""
    assert _run("-c", str(ini), "mission", "add", "S2B").exit_code == 0
    for n in (1, 2, 3):
        (tmp_path / f"p{n}.zip").write_bytes(b"data %d" % n)
    (tmp_path / "m.jsonl").write_bytes(BOM + b'{"file": "p1.zip"}\n{"file": "p2.zip"}\n')
    result = _run("-c", str(ini), "ingest", "--mission", "S2B", "--manifest", str(tmp_path / "m.jsonl"), "--no-progress")
    assert result.exit_code == 0, result.output
    (tmp_path / "meta.json").write_bytes(BOM + json.dumps({"Name": "named.zip"}).encode())
    result = _run("-c", str(ini), "ingest", "--mission", "S2B", "--metadata", str(tmp_path / "meta.json"), str(tmp_path / "p3.zip"))
    assert result.exit_code == 0, result.output
    listed = _run("-c", str(ini), "export", "--mission", "S2B")
    assert sorted(json.loads(line)["Name"] for line in listed.stdout.splitlines()) == ["named.zip", "p1.zip", "p2.zip"]

    (tmp_path / "workflows.json").write_bytes(BOM + WORKFLOWS.read_bytes())
    with_workflows = _with_setting(ini, "proseo.workflows.file", str(tmp_path / "workflows.json")).read_text(encoding="utf-8")
    (tmp_path / "bom-workflows.ini").write_text(with_workflows.replace(f"proseo.workflows.file = {WORKFLOWS}\n", "", 1), encoding="utf-8")
    assert _run("-c", str(tmp_path / "bom-workflows.ini"), "mission", "add", "DEMO").exit_code == 0
    result = _run("-c", str(tmp_path / "bom-workflows.ini"), "workflows", "sync")
    assert result.exit_code == 0, result.output

    key = _run("secrets", "generate-key").stdout.strip()
    (tmp_path / "key").write_bytes(BOM + key.encode() + b"\n")
    result = _run("-c", str(_with_setting(ini, "proseo.secrets.key_file", str(tmp_path / "key"))), "secrets", "rotate")
    assert result.exit_code == 0, result.output


def test_files_that_are_not_utf8_are_one_line(ini, tmp_path):
    assert _run("-c", str(ini), "mission", "add", "S2B").exit_code == 0
    (tmp_path / "p.zip").write_bytes(b"data")
    (tmp_path / "meta.json").write_bytes(b'{"Name": "caf\xe9.zip"}')  # Latin-1
    _one_line(_run("-c", str(ini), "ingest", "--mission", "S2B", "--metadata", str(tmp_path / "meta.json"), str(tmp_path / "p.zip")),
              "meta.json", "not UTF-8")
    (tmp_path / "workflows.json").write_bytes(WORKFLOWS.read_bytes().replace(b"{", b"{\"note\": \"\xe9\", ", 1))
    with_workflows = _with_setting(ini, "proseo.workflows.file", str(tmp_path / "workflows.json")).read_text(encoding="utf-8")
    (tmp_path / "latin1.ini").write_text(with_workflows.replace(f"proseo.workflows.file = {WORKFLOWS}\n", "", 1), encoding="utf-8")
    _one_line(_run("-c", str(tmp_path / "latin1.ini"), "workflows", "sync"), "workflows.json", "not UTF-8")
    (tmp_path / "key").write_bytes(b"\xff\xfe" + "k".encode("utf-16-le"))
    _one_line(_run("-c", str(_with_setting(ini, "proseo.secrets.key_file", str(tmp_path / "key"))), "secrets", "rotate"),
              "key_file", "not UTF-8")
    (tmp_path / "empty-key").write_text("")  # names both places a key may be
    _one_line(_run("-c", str(_with_setting(ini, "proseo.secrets.key_file", str(tmp_path / "empty-key"))), "secrets",
                   "rotate"), "proseo.secrets.key or proseo.secrets.key_file")


def test_the_progress_bar_of_files_is_for_a_terminal(ini, tmp_path):
    """``ingest FILE...`` drew its bar into a cron job's log (``--manifest`` did not)."""
    assert _run("-c", str(ini), "mission", "add", "S2B").exit_code == 0
    for n in (1, 2, 3, 4):
        (tmp_path / f"bar{n}.zip").write_bytes(b"data %d" % n)
    quiet = _run("-c", str(ini), "ingest", "--mission", "S2B", str(tmp_path / "bar1.zip"), str(tmp_path / "bar2.zip"))
    assert quiet.exit_code == 0 and "|" not in quiet.stderr, quiet.stderr
    forced = _run("-c", str(ini), "ingest", "--mission", "S2B", "--progress", str(tmp_path / "bar3.zip"),
                  str(tmp_path / "bar4.zip"))
    assert forced.exit_code == 0 and "2/2" in forced.stderr, forced.stderr
