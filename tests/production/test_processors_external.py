"""The external-command processor, run for real with small Python scripts."""
import contextlib
import gzip
import os
import signal
import textwrap
import threading
import time

import pytest

from live_server import wait_for

from proseo_odata.production.external import ExternalCommandProcessor, render_template
from proseo_odata.production.processors import (
    CancelToken,
    ProcessingCancelled,
    ProcessingFailed,
    ProcessorInput,
    create_processor,
)


def process_gone(pid):
    """True when ``pid`` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "scratch").mkdir()
    source = tmp_path / "input.dat"
    source.write_bytes(b"hello product\n" * 100)
    return tmp_path


def script(tmp_path, body):
    path = tmp_path / "proc.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


def job(workdir, **options):
    return ProcessorInput(
        path=workdir / "input.dat",
        scratch_dir=workdir / "scratch",
        options=options,
        output_product_type="OUT_TYPE",
        workflow_name="TEST",
    )


def test_command_runs_with_templated_arguments(workdir):
    path = script(
        workdir,
        """
        import os, sys
        src, out, level, scratch, otype = sys.argv[1:6]
        print("PROGRESS 50", flush=True)
        data = open(src, "rb").read()
        with open(os.path.join(out, "result.txt"), "w") as f:
            f.write(f"{len(data)} {level} {os.path.isdir(scratch)} {otype}")
        print("PROGRESS 100", flush=True)
        """,
    )
    processor = create_processor(
        "external", {"command": ["{python}", path, "{input}", "{output_dir}", "{option:Level}", "{scratch}", "{output_type}"]}
    )
    progress = []
    outputs = processor.run(job(workdir, Level="7"), lambda f, m: progress.append(f), CancelToken())
    assert [o.name for o in outputs] == ["result.txt"]
    assert outputs[0].content_type == "text/plain"
    assert outputs[0].path.read_text() == "1400 7 True OUT_TYPE"
    assert 0.0 in progress and 1.0 in progress
    assert (workdir / "scratch" / "processor.log").is_file()


def test_the_command_gets_no_secret_of_the_worker_and_its_failure_repeats_none_of_its_own(workdir, monkeypatch):
    """The failure message is the order's StatusMessage, which its client and the client's
    notification endpoint receive: a tool that prints its environment or a URL with its token
    must not hand the server's credentials (never given to it) nor its own (redacted) on. What
    is no credential (thread caps, library paths) still reaches it, and is not blanked."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-aws-secret-0a1b")
    monkeypatch.setenv("PGPASSWORD", "worker-pg-password")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:worker-db-password@db/x")
    monkeypatch.setenv("SITE_PROXY", "http://proxy-user:proxy-password@proxy.example:3128")
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.setenv("JAVA_HOME", "/opt/java-17")
    path = script(
        workdir,
        """
        import os, sys
        print("inherited:", " ".join(sorted(f"{k}={v}" for k, v in os.environ.items())))
        token = os.environ["ARCHIVE_TOKEN"]
        print(f"GET /api/process?token={token}&x=1 failed; quoted: token%3D{token.replace('/', '%2F')}; "
              f"tables {os.environ['L2_TABLES']}/gipp.xml")
        sys.exit(1)
        """,
    )
    processor = ExternalCommandProcessor({
        "command": ["{python}", path], "log_tail_lines": 2, "inherit_env": ["SITE_PROXY"],
        "env": {"ARCHIVE_TOKEN": "tok/en-{option:Level}-9f8e", "L2_TABLES": "/opt/mission/tables"},
    })
    with pytest.raises(ProcessingFailed) as info:
        processor.run(job(workdir, Level="L2"), lambda f, m: None, CancelToken())
    message = str(info.value)
    for secret in ("worker-aws-secret", "worker-pg-password", "worker-db-password", "proxy-password",
                   "tok/en", "tok%2Fen"):
        assert secret not in message, secret
    assert "AWS_SECRET_ACCESS_KEY" not in message and "PGPASSWORD" not in message and "DATABASE_URL" not in message
    assert "token=********&x=1" in message and "ARCHIVE_TOKEN=********" in message
    assert "SITE_PROXY=********" in message  # named in inherit_env: passed on, and redacted all the same
    assert "OMP_NUM_THREADS=4" in message and "JAVA_HOME=/opt/java-17" in message
    assert "tables /opt/mission/tables/gipp.xml" in message  # not a credential: not blanked
    assert f"PATH={os.environ['PATH']}" in message


def test_inherit_env_may_be_empty_in_a_workflows_file():
    assert ExternalCommandProcessor({"command": ["true"], "inherit_env": None}).inherit_env == []


def test_failure_carries_last_log_lines(workdir):
    path = script(
        workdir,
        """
        import sys
        for i in range(20):
            print(f"line {i}")
        print("fatal: calibration table missing", file=sys.stderr)
        sys.exit(3)
        """,
    )
    processor = ExternalCommandProcessor({"command": ["{python}", path], "log_tail_lines": 3})
    with pytest.raises(ProcessingFailed) as info:
        processor.run(job(workdir), lambda f, m: None, CancelToken())
    message = str(info.value)
    assert message.startswith("processor exited with status 3")
    assert "fatal: calibration table missing" in message
    assert "line 18" in message and "line 17" not in message


def test_no_output_is_a_failure(workdir):
    path = script(workdir, "print('nothing to do')\n")
    with pytest.raises(ProcessingFailed, match="produced no output file"):
        ExternalCommandProcessor({"command": ["{python}", path]}).run(job(workdir), lambda f, m: None, CancelToken())


def test_unknown_option_in_template_fails(workdir):
    processor = ExternalCommandProcessor({"command": ["{python}", "-c", "pass", "{option:Nope}"]})
    with pytest.raises(ProcessingFailed, match="names option 'Nope', which has no value in this order"):
        processor.run(job(workdir), lambda f, m: None, CancelToken())


def test_missing_executable_fails(workdir):
    processor = ExternalCommandProcessor({"command": [str(workdir / "does-not-exist")]})
    with pytest.raises(ProcessingFailed, match="cannot start"):
        processor.run(job(workdir), lambda f, m: None, CancelToken())


SLOW_WITH_CHILD = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
with open(os.path.join(sys.argv[1], "pids.tmp"), "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
os.replace(os.path.join(sys.argv[1], "pids.tmp"), os.path.join(sys.argv[1], "pids"))
print("working", flush=True)
time.sleep(120)
"""


def read_pids(workdir):
    pids_file = workdir / "scratch" / "pids"
    assert wait_for(pids_file.exists, 15), "the script did not start"
    return [int(p) for p in pids_file.read_text().split()]


def test_timeout_kills_the_process_group(workdir):
    path = script(workdir, SLOW_WITH_CHILD)
    processor = ExternalCommandProcessor({"command": ["{python}", path, "{scratch}"], "timeout": 2})
    started = time.monotonic()
    with pytest.raises(ProcessingFailed, match=r"timed out after 2 s") as info:
        processor.run(job(workdir), lambda f, m: None, CancelToken())
    assert time.monotonic() - started < 20
    assert "working" in str(info.value)
    pids = read_pids(workdir)
    assert wait_for(lambda: all(process_gone(p) for p in pids), 10), f"still running: {pids}"


def test_cancel_kills_the_process_group(workdir):
    path = script(workdir, SLOW_WITH_CHILD)
    processor = ExternalCommandProcessor({"command": ["{python}", path, "{scratch}"], "timeout": 60})
    token = CancelToken()
    seen = {}

    def cancel_when_running():
        seen["pids"] = read_pids(workdir)
        assert all(not process_gone(p) for p in seen["pids"])
        seen["alive_before_cancel"] = True
        token.cancel("request cancelled by user")

    canceller = threading.Thread(target=cancel_when_running)
    canceller.start()
    started = time.monotonic()
    with pytest.raises(ProcessingCancelled, match="request cancelled by user"):
        processor.run(job(workdir), lambda f, m: None, token)
    canceller.join(20)
    assert seen.get("alive_before_cancel")
    assert time.monotonic() - started < 30
    pids = seen["pids"]
    assert wait_for(lambda: all(process_gone(p) for p in pids), 10), f"still running: {pids}"


def test_demo_compress_script(workdir):
    processor = create_processor(
        "external",
        {
            "command": [
                "{python}", "-m", "proseo_odata.demo.compress", "{input}", "{output_dir}",
                "--name", "{input_name}", "--level", "{option:CompressionLevel}",
            ],
            "content_type": "application/gzip",
        },
    )
    outputs = processor.run(job(workdir, CompressionLevel="9"), lambda f, m: None, CancelToken())
    assert [o.name for o in outputs] == ["input.dat.gz"]
    assert gzip.decompress(outputs[0].path.read_bytes()) == (workdir / "input.dat").read_bytes()
    assert outputs[0].content_type == "application/gzip"


@pytest.mark.parametrize(
    "template,expected",
    [
        ("{input}", "/in"),
        ("--level={option:Level}", "--level=5"),
        ("{{literal}}", "{literal}"),
        ("plain", "plain"),
    ],
)
def test_render_template(template, expected):
    assert render_template(template, {"input": "/in"}, {"Level": "5"}) == expected


@pytest.mark.parametrize("config", [{}, {"command": "python x.py"}, {"command": []}, {"command": [1]}])
def test_bad_configuration_is_rejected(config):
    with pytest.raises(ValueError, match="'command' must be"):
        ExternalCommandProcessor(config)


@pytest.mark.parametrize("content_type", ["zip", "text/plain\r\nX-Injected: 1", 7])
def test_a_content_type_that_is_no_mime_type_is_rejected_when_workflows_load(content_type):
    with pytest.raises(ValueError, match="'content_type': .* is not a MIME type"):
        ExternalCommandProcessor({"command": ["true"], "content_type": content_type})
    assert ExternalCommandProcessor({"command": ["true"], "content_type": "application/x-netcdf"}).content_type


LEAVES_A_HELPER = """
import os, signal, subprocess, sys
ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
helper = subprocess.Popen([sys.executable, "-c", ignore if sys.argv[3] == "stubborn" else "import time; time.sleep(120)"])
with open(os.path.join(sys.argv[1], "pids"), "w") as f:
    f.write(str(helper.pid))
with open(os.path.join(sys.argv[2], "OUT.dat"), "w") as f:
    f.write("out")
sys.exit(int(sys.argv[4]))
"""


@pytest.mark.parametrize("helper, status", [("plain", 0), ("plain", 3), ("stubborn", 0)])
def test_a_helper_left_by_a_command_that_ended_is_stopped(workdir, helper, status):
    path = script(workdir, LEAVES_A_HELPER)
    processor = ExternalCommandProcessor({"command": ["{python}", path, "{scratch}", "{output_dir}", helper, str(status)]})
    try:
        if status:
            with pytest.raises(ProcessingFailed, match="exited with status 3"):
                processor.run(job(workdir), lambda f, m: None, CancelToken())
        else:
            [output] = processor.run(job(workdir), lambda f, m: None, CancelToken())
            assert output.name == "OUT.dat"
        pids = read_pids(workdir)
        assert wait_for(lambda: all(process_gone(p) for p in pids), 2), f"still running: {pids}"
    finally:
        for pid in read_pids(workdir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
