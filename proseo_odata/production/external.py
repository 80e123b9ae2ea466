"""The external-command processor: runs a mission's executable on the input product.

Processor configuration (``processor_config``):

``command`` (required)
    the argument list, each item a template. Placeholders: ``{input}`` (input file path),
    ``{input_name}`` (the input product's name), ``{output_dir}`` (an empty folder where the
    command writes its output files), ``{scratch}`` (the run's scratch folder),
    ``{option:Name}`` (the value of workflow option ``Name``), ``{python}`` (the interpreter
    running proseo-odata, handy for ``["{python}", "-m", "my_mission.processor", ...]``),
    ``{output_type}`` (the workflow's OutputProductType). ``{{`` and ``}}`` are literal braces.
    The command is never run through a shell.
``timeout`` (seconds, default 3600)
    the command is killed (its whole process group) and the order fails when it runs longer.
``env`` (mapping, optional)
    the command's own environment variables (templated like the arguments), on top of the
    worker's environment without its credentials: a variable whose name says it holds one
    (:data:`CREDENTIAL_NAME`: ``AWS_SECRET_ACCESS_KEY``, ``PGPASSWORD``, ``*_TOKEN``...) or whose
    value is a URL with a password (:data:`URL_WITH_PASSWORD`) is not passed on.
``inherit_env`` (list of names, optional)
    such variables passed on all the same when the worker has them (a tool that reads S3 with the
    service's keys, a proxy with credentials).
``content_type`` (optional)
    the MIME type of the outputs; guessed from the file name when absent.
``log_tail_lines`` (default 5)
    how many last lines of the command's log go into a failure message (the order's
    ``StatusMessage``, which its client and its notification endpoint receive): the value of every
    variable of the command's environment that is a credential by its name or value (``env``'s
    and ``inherit_env``'s included) is replaced there by ``********``, so a tool that prints its
    configuration (a traceback quoting a URL with its token) does not hand it on.

The command's standard output and error go to ``processor.log`` in the scratch folder. The file
the command leaves in ``{output_dir}`` becomes the output product: exactly one (none fails the
order here, more fail it in the engine). ``{option:Name}`` of an option with no default that
the order leaves out fails the order (the template "names option ..., which has no value"). A line
``PROGRESS <percent>`` on its output is reported as progress.

Stopping (cancellation, timeout) terminates the command's whole process group: the command is
started in a new session, so helpers it spawns are stopped too (SIGTERM, then SIGKILL after a
grace period). When the command ends by itself (any exit status), what is left of its group
(helpers it started in the background) is stopped the same way. If the worker itself dies
(``kill -9``), the kernel kills the command (``PR_SET_PDEATHSIG``) and the next worker to start
on the host kills what is left of its process group and removes the run's scratch folder
(:mod:`proseo_odata.production.reaper`).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from proseo_odata.production.processors import (
    CancelToken,
    Processor,
    ProcessingCancelled,
    ProcessingFailed,
    ProcessorInput,
    ProcessorOutput,
    ProgressCallback,
    guess_content_type,
)
from proseo_odata.production.reaper import die_with_parent, record_process_group
from proseo_odata.secretbox import MASK

#: Variables a command does not inherit from the worker's environment (``inherit_env`` names
#: them when a tool needs one): a name that says it holds a credential (matched anywhere in the
#: name, any case: ``AWS_SECRET_ACCESS_KEY``, ``PGPASSWORD``, ``GITHUB_TOKEN``, ``API_KEY``...),
#: the AWS and proseo ones whatever they are called.
CREDENTIAL_NAME = re.compile(
    r"SECRET|PASSW|TOKEN|CREDENTIAL|PRIVATE|COOKIE|SESSION|AUTH|API_?KEY|ACCESS_?KEY|(^|_)KEY(_|$)|^AWS_|^PROSEO_",
    re.IGNORECASE)
#: ... and a value holding a URL with a password (``DATABASE_URL``, ``HTTPS_PROXY=http://u:p@proxy``).
URL_WITH_PASSWORD = re.compile(r"://[^/\s@]*:[^/\s@]*@")
#: Values shorter than this are not redacted (``1``, ``on``: they would blank every such text).
REDACT_MIN_LENGTH = 4

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_]+)(?::([^{}]*))?\}")
_PROGRESS = re.compile(rb"^PROGRESS\s+(\d+(?:\.\d+)?)\s*$", re.MULTILINE)
POLL_SECONDS = 0.1
KILL_GRACE_SECONDS = 3.0


class TemplateError(ValueError):
    """A command template names an unknown placeholder or option."""


def render_template(template: str, values: dict, options: dict) -> str:
    """Replace the placeholders of one argument (see the module docstring)."""

    def replace(match):
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        key, arg = match.group(1), match.group(2)
        if key == "option":
            if arg not in options:
                raise TemplateError(f"command template names option {arg!r}, which has no value in this order "
                                    "(not an option of the workflow, or one without a default that the order leaves out)")
            return str(options[arg])
        if arg is not None or key not in values:
            raise TemplateError(f"unknown placeholder {token} in command template")
        return str(values[key])

    return _PLACEHOLDER.sub(replace, template)


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file (decoded leniently); empty if missing."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16384))
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""


def is_credential(name: str, value: str) -> bool:
    """Whether an environment variable holds a credential, by its name (:data:`CREDENTIAL_NAME`)
    or its value (:data:`URL_WITH_PASSWORD`)."""
    return CREDENTIAL_NAME.search(name) is not None or URL_WITH_PASSWORD.search(value) is not None


def redact(text: str, secrets) -> str:
    """``text`` with every occurrence of each of ``secrets`` (of at least
    :data:`REDACT_MIN_LENGTH` characters), and of its URL-quoted form, replaced by :data:`MASK`;
    the longest first, so a value inside another is not left half-written."""
    from urllib.parse import quote, quote_plus

    forms = {form for value in secrets if len(value) >= REDACT_MIN_LENGTH
             for form in (value, quote(value, safe=""), quote_plus(value))}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def kill_process_group(proc: subprocess.Popen, grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL it after ``grace`` seconds, reap ``proc``."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if pgid is not None:
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM and pgid is not None:
            # The leader is gone; make sure helpers of the group are too.
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return


def end_leftovers(pgid: int, grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM what is left of process group ``pgid`` after its leader (the command) ended and
    was reaped, SIGKILL it after ``grace`` seconds: helpers the command started in the
    background (a license daemon, a log shipper, a forgotten ``&``) do not outlive its run.
    The group keeps its id while a member lives, so the id names no other process."""
    deadline = time.monotonic() + grace
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return  # none left (or none the service may signal)
        while sig == signal.SIGTERM and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return


class ExternalCommandProcessor(Processor):
    """Run a configured executable (see the module docstring)."""

    def __init__(self, config=None):
        super().__init__(config)
        command = self.config.get("command")
        if isinstance(command, str) or not command or not all(isinstance(a, str) for a in command):
            raise ValueError("external processor: 'command' must be a non-empty list of strings")
        self.command = list(command)
        self.timeout = float(self.config.get("timeout", 3600))
        self.env = dict(self.config.get("env", {}))
        inherit = self.config.get("inherit_env") or []
        if isinstance(inherit, str) or not all(isinstance(name, str) for name in inherit):
            raise ValueError("external processor: 'inherit_env' must be a list of variable names")
        self.inherit_env = list(inherit)
        self.content_type = self.config.get("content_type")
        if self.content_type is not None:  # checked as an ingest checks it, when workflows load
            from proseo_odata.ingest import MetadataError, check_content_type

            try:
                check_content_type(self.content_type)
            except MetadataError as exc:
                raise ValueError(f"external processor: 'content_type': {exc.problem}") from None
        self.log_tail_lines = int(self.config.get("log_tail_lines", 5))
        #: the running child (for tests and diagnostics); None when not running.
        self.process = None

    def _failure(self, message: str, log_path: Path, secrets: tuple = ()) -> ProcessingFailed:
        last = redact(tail(log_path, self.log_tail_lines), secrets)
        return ProcessingFailed(f"{message}; last log lines:\n{last}" if last else message)

    def environment(self, own: dict) -> dict:
        """The command's environment: this process's without its credentials (:func:`is_credential`),
        ``inherit_env``'s names from it (those it has), then ``own`` (``env`` rendered)."""
        env = {name: value for name, value in os.environ.items() if not is_credential(name, value)}
        env.update({name: os.environ[name] for name in self.inherit_env if name in os.environ})
        env.update(own)
        return env

    def run(self, job: ProcessorInput, progress: ProgressCallback, cancel: CancelToken) -> list[ProcessorOutput]:
        scratch = Path(job.scratch_dir)
        output_dir = scratch / "output"
        output_dir.mkdir(parents=True, exist_ok=True)
        log_path = scratch / "processor.log"
        values = {
            "input": str(job.path),
            "input_name": getattr(job.product, "name", None) or Path(job.path).name,
            "output_dir": str(output_dir),
            "scratch": str(scratch),
            "python": sys.executable,
            "output_type": job.output_product_type,
        }
        options = {k: str(v) for k, v in job.options.items()}
        try:
            argv = [render_template(arg, values, options) for arg in self.command]
            own = {k: render_template(str(v), values, options) for k, v in self.env.items()}
        except TemplateError as exc:
            raise ProcessingFailed(f"workflow {job.workflow_name}: {exc}") from exc
        env = self.environment(own)
        secrets = tuple(value for name, value in env.items() if is_credential(name, value))

        cancel.raise_if_cancelled()
        progress(0.0, "starting " + Path(argv[0]).name)
        with open(log_path, "ab") as log:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=scratch,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # own process group: stopping kills its helpers too
                    preexec_fn=die_with_parent,  # and the kernel kills it if its worker dies
                )
            except OSError as exc:
                raise ProcessingFailed(f"cannot start {argv[0]}: {exc}") from exc
        self.process = proc
        record_process_group(scratch, proc.pid)  # for the reaper of a dead worker's runs
        deadline = time.monotonic() + self.timeout
        last_progress = -1.0
        try:
            while True:
                try:
                    returncode = proc.wait(timeout=POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if cancel.is_cancelled:
                    kill_process_group(proc)
                    raise ProcessingCancelled(cancel.reason or "cancelled")
                if time.monotonic() > deadline:
                    kill_process_group(proc)
                    raise self._failure(f"processor timed out after {self.timeout:g} s and was killed", log_path,
                                        secrets)
                last_progress = self._report_progress(log_path, progress, last_progress)
        except BaseException:
            if proc.poll() is None:
                kill_process_group(proc)
            raise
        finally:
            self.process = None
        end_leftovers(proc.pid)  # its own session: the group's id is the command's pid
        if returncode != 0:
            raise self._failure(f"processor exited with status {returncode}", log_path, secrets)
        outputs = sorted(p for p in output_dir.iterdir() if p.is_file())
        if not outputs:
            raise self._failure("processor produced no output file", log_path, secrets)
        progress(1.0, "done")
        return [
            ProcessorOutput(
                path=p,
                name=p.name,
                content_type=self.content_type or guess_content_type(p.name),
            )
            for p in outputs
        ]

    @staticmethod
    def _report_progress(log_path: Path, progress: ProgressCallback, last: float) -> float:
        try:
            size = log_path.stat().st_size
            with open(log_path, "rb") as handle:
                handle.seek(max(0, size - 4096))
                found = _PROGRESS.findall(handle.read())
        except OSError:
            return last
        if found:
            value = min(100.0, float(found[-1])) / 100.0
            if value != last:
                progress(value, "")
                return value
        return last
