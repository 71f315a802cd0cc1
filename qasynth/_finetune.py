"""Fine-tuning a model on a chat JSONL file: check, upload, create the job, wait.

:func:`afinetune` checks the files as ``check_jsonl`` does, uploads them
(purpose ``fine-tune``), waits until they are processed, creates the job and
waits until it ends, reporting statuses, events and trained tokens through
``on_progress`` (and the ``qasynth`` logger).

Nothing is paid for twice. The run is keyed by the training and validation
files' content, the options and the base URL: uploads are named after that
content (``qasynth-<hash>-train.jsonl``) and found again by name, the job
carries the key in its metadata and is found again by it, and a small state
file beside the training file (``.TRAIN.jsonl.qasynth-finetune.json``, hidden so
that ``datasets.load_dataset`` on a split folder skips it; it never holds an API
key) remembers the ids. So a run interrupted anywhere and started
again attaches to the same files and the same job. A job that failed or was
cancelled is not reused: running again starts a new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import openai

from ._callerrors import classify_error, unreachable
from ._errors import AuthenticationError, InputError, ModelError, StateError
from ._filecheck import check_jsonl
from ._llm import DEFAULT_MODEL, check_key_text, openai_connection, secrets_of
from ._statefiles import state_file_beside
from ._sync import run_sync
from ._tokens import EncodingLike

__all__ = [
    "FineTuneProgress",
    "FineTuneResult",
    "acancel_finetune",
    "afinetune",
    "cancel_finetune",
    "finetune",
    "state_path",
]

logger = logging.getLogger("qasynth")

DEFAULT_POLL_INTERVAL = 10.0
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
_STATE_VERSION = 1


@dataclass(frozen=True)
class FineTuneProgress:
    """One thing worth showing while a job runs: ``kind`` is ``upload``, ``job``,
    ``status``, ``event`` or ``tokens``; ``job_id`` is set once the job exists."""

    kind: str
    message: str
    job_id: str | None = None


@dataclass(frozen=True)
class FineTuneResult:
    """How a fine-tuning job ended (or stands, with ``wait=False``)."""

    job_id: str
    status: str
    fine_tuned_model: str | None
    model: str
    training_file_id: str
    validation_file_id: str | None
    trained_tokens: int | None
    error: str | None
    attached: bool
    """True when the job already existed (a rerun attached to it)."""

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Options:
    train: Path
    validation: Path | None
    model: str
    suffix: str | None
    epochs: int | None
    base_url: str | None

    def key(self) -> str:
        """A content hash of the files, the options and the base URL (no secrets)."""
        parts = {
            "train": _file_hash(self.train),
            "validation": None if self.validation is None else _file_hash(self.validation),
            "model": self.model,
            "suffix": self.suffix,
            "epochs": self.epochs,
            "base_url": self.base_url,
        }
        text = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


MAX_SUFFIX = 64
"""The longest suffix OpenAI puts in a fine-tuned model's name."""


def state_path(train: str | os.PathLike[str]) -> Path:
    """Where the ids of ``train``'s fine-tuning runs are kept."""
    return state_file_beside(Path(train), ".qasynth-finetune.json")


class _State:
    """The state file: run key → {training_file_id, validation_file_id, job_id}."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runs: dict[str, dict[str, str | None]] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self.runs = dict(data["runs"])
            except (ValueError, KeyError, TypeError) as exc:
                raise StateError(
                    f"cannot read the fine-tuning state file {path}: {exc}; delete it to start "
                    "over (files and jobs already made are found again through the API)"
                ) from exc

    def get(self, key: str) -> dict[str, str | None]:
        return dict(self.runs.get(key, {}))

    def save(self, key: str, **ids: str | None) -> None:
        self.runs.setdefault(key, {}).update(ids)
        data = {"version": _STATE_VERSION, "runs": self.runs}
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        temporary.replace(self.path)


def _client(base_url: str | None, api_key: str | None) -> openai.AsyncOpenAI:
    base_url, key = openai_connection(base_url, api_key, own_model="--base-url / base_url=")
    check_key_text(key)
    return openai.AsyncOpenAI(api_key=key, base_url=base_url, timeout=120.0, max_retries=3)


def _api_error(exc: openai.APIError, doing: str, client: openai.AsyncOpenAI) -> Exception:
    call = classify_error(exc, secrets_of(None, client.api_key))
    message = f"{doing} failed: {call.message}"
    if call.kind == "fatal":
        return AuthenticationError(message, status_code=call.status)
    if call.kind == "unreachable":
        return unreachable(str(client.base_url), call.message, doing=doing)
    return ModelError(message + "; run the same command again to continue where it stopped")


def _check_files(opts: _Options, encoding: EncodingLike | None) -> None:
    for path, minimum in ((opts.train, 10), (opts.validation, 1)):
        if path is None:
            continue
        if not path.is_file():
            raise InputError(f"{path} is not a file; give the path of a chat JSONL file")
        report = check_jsonl(path, model=opts.model, encoding=encoding, min_examples=minimum)
        if not report.ok:
            shown = "; ".join(str(p) for p in report.problems[:3])
            more = len(report.problems) - 3
            raise InputError(
                f"{path} has {len(report.problems)} problem(s): {shown}"
                + (f" (and {more} more)" if more > 0 else "")
                + f"; fix them (details: qasynth check {path}) and run again"
            )


class _Run:
    """One finetune call: the client, the options, the state and progress reporting."""

    def __init__(
        self,
        opts: _Options,
        client: openai.AsyncOpenAI,
        poll_interval: float,
        on_progress: Callable[[FineTuneProgress], None] | None,
    ) -> None:
        self.opts = opts
        self.client = client
        self.poll_interval = poll_interval
        self.on_progress = on_progress
        self.key = opts.key()
        self.state = _State(state_path(opts.train))
        self.job_id: str | None = None

    def report(self, kind: str, message: str) -> None:
        logger.info("finetune: %s", message)
        if self.on_progress is not None:
            self.on_progress(FineTuneProgress(kind, message, self.job_id))

    async def file_id(self, path: Path, slot: str) -> str:
        """The id of ``path``'s upload: remembered, found by name, or uploaded now."""
        name = f"qasynth-{_file_hash(path)[:16]}-{path.name}"
        known = self.state.get(self.key).get(slot)
        if known:
            try:
                await self.client.files.retrieve(known)
                return known
            except openai.NotFoundError:
                logger.info("finetune: file %s is gone; looking for another upload", known)
        async for existing in self.client.files.list(purpose="fine-tune"):
            if existing.filename == name and existing.bytes == path.stat().st_size:
                self.report("upload", f"{path.name}: already uploaded as {existing.id}")
                self.state.save(self.key, **{slot: existing.id})
                return existing.id
        with path.open("rb") as handle:
            uploaded = await self.client.files.create(file=(name, handle), purpose="fine-tune")
        self.state.save(self.key, **{slot: uploaded.id})
        self.report("upload", f"{path.name}: uploaded as {uploaded.id}")
        return uploaded.id

    async def processed(self, file_id: str, path: Path) -> None:
        while True:
            file = await self.client.files.retrieve(file_id)
            if file.status == "processed":
                return
            if file.status == "error":
                details = file.status_details or "no details given"
                raise InputError(f"the provider could not process {path}: {details}")
            await asyncio.sleep(self.poll_interval)

    async def existing_job(self) -> Any | None:
        """The job for this key that has not failed or been cancelled, if any."""
        known = self.state.get(self.key).get("job_id")
        if known:
            try:
                job = await self.client.fine_tuning.jobs.retrieve(known)
            except openai.NotFoundError:
                job = None
            if job is not None and job.status not in ("failed", "cancelled"):
                return job
        async for job in self.client.fine_tuning.jobs.list(metadata={"qasynth_key": self.key}):
            if job.status not in ("failed", "cancelled"):
                return job
        if known:
            self.report("job", f"the previous job {known} did not succeed; starting a new one")
        return None

    async def create_job(self, training: str, validation: str | None) -> Any:
        opts = self.opts
        extra: dict[str, Any] = {}
        if opts.epochs is not None:
            extra["hyperparameters"] = {"n_epochs": opts.epochs}
        if validation is not None:
            extra["validation_file"] = validation
        if opts.suffix:
            extra["suffix"] = opts.suffix
        return await self.client.fine_tuning.jobs.create(
            model=opts.model,
            training_file=training,
            metadata={"qasynth_key": self.key},
            **extra,
        )

    async def follow(self, job: Any) -> Any:
        """Poll until the job ends, reporting new statuses, events and trained tokens."""
        seen: set[str] = set()
        status = None
        while True:
            if job.status != status:
                status = job.status
                self.report("status", f"status: {status}")
            page = await self.client.fine_tuning.jobs.list_events(job.id, limit=50)
            for event in reversed(page.data):  # the API lists the newest first
                if event.id not in seen:
                    seen.add(event.id)
                    self.report("event", event.message)
            if job.status in TERMINAL:
                if job.trained_tokens:
                    self.report("tokens", f"trained tokens: {job.trained_tokens:,}")
                return job
            await asyncio.sleep(self.poll_interval)
            job = await self.client.fine_tuning.jobs.retrieve(job.id)

    async def run(self, wait: bool) -> FineTuneResult:
        opts = self.opts
        training = await self.file_id(opts.train, "training_file_id")
        validation = None
        if opts.validation is not None:
            validation = await self.file_id(opts.validation, "validation_file_id")
        job = await self.existing_job()
        attached = job is not None
        if job is None:
            for file_id, path in ((training, opts.train), (validation, opts.validation)):
                if file_id is not None and path is not None:
                    await self.processed(file_id, path)
            job = await self.create_job(training, validation)
        self.job_id = job.id
        self.state.save(self.key, job_id=job.id)
        verb = "attached to" if attached else "created"
        self.report("job", f"{verb} fine-tuning job {job.id} ({opts.model})")
        if wait:
            job = await self.follow(job)
        error = job.error.message if job.error is not None and job.error.message else None
        return FineTuneResult(
            job_id=job.id, status=job.status, fine_tuned_model=job.fine_tuned_model,
            model=opts.model, training_file_id=training, validation_file_id=validation,
            trained_tokens=job.trained_tokens, error=error, attached=attached,
        )  # fmt: skip


async def afinetune(
    train: str | os.PathLike[str],
    *,
    validation: str | os.PathLike[str] | None = None,
    model: str = DEFAULT_MODEL,
    suffix: str | None = None,
    epochs: int | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    wait: bool = True,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    on_progress: Callable[[FineTuneProgress], None] | None = None,
    encoding: EncodingLike | None = None,
) -> FineTuneResult:
    """Fine-tune ``model`` on the chat JSONL file ``train``; see the module docstring.

    Raises :class:`InputError` when a file has problems (nothing is uploaded),
    :class:`ConfigurationError` without an API key or base URL, and
    :class:`AuthenticationError` / :class:`ModelError` when the provider refuses
    or cannot be reached. A job that ends failed or cancelled is returned, not
    raised: look at ``status`` and ``error``. ``encoding`` is the tokenizer the
    file check counts with (default: the model's).
    """
    if epochs is not None and epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}")
    if poll_interval < 0:
        raise InputError(f"poll_interval must be 0 or more, got {poll_interval}")
    if suffix and len(suffix) > MAX_SUFFIX:
        raise InputError(
            f"the suffix has {len(suffix)} characters; OpenAI takes at most {MAX_SUFFIX} "
            "(CLI: --suffix)"
        )
    opts = _Options(
        Path(train), None if validation is None else Path(validation), model,
        suffix or None, epochs, base_url or os.environ.get("OPENAI_BASE_URL") or None,
    )  # fmt: skip
    _check_files(opts, encoding)
    client = _client(opts.base_url, api_key)
    run = _Run(opts, client, poll_interval, on_progress)
    try:
        return await run.run(wait)
    except openai.APIError as exc:
        raise _api_error(exc, "fine-tuning", client) from None  # it may quote the key
    finally:
        await client.close()


def finetune(train: str | os.PathLike[str], **options: Any) -> FineTuneResult:
    """Synchronous :func:`afinetune` (same options)."""
    return run_sync(afinetune(train, **options))


async def acancel_finetune(
    train: str | os.PathLike[str],
    *,
    validation: str | os.PathLike[str] | None = None,
    model: str = DEFAULT_MODEL,
    suffix: str | None = None,
    epochs: int | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
) -> FineTuneResult:
    """Cancel the job that :func:`afinetune` made with the same file and options."""
    opts = _Options(
        Path(train), None if validation is None else Path(validation), model,
        suffix or None, epochs, base_url or os.environ.get("OPENAI_BASE_URL") or None,
    )  # fmt: skip
    client = _client(opts.base_url, api_key)
    run = _Run(opts, client, 0.0, None)
    try:
        job = await run.existing_job()
        if job is None:
            raise StateError(
                f"no running fine-tuning job for {opts.train} with these options; "
                "nothing to cancel (give the same options as the finetune command)"
            )
        if job.status not in TERMINAL:
            job = await client.fine_tuning.jobs.cancel(job.id)
    except openai.APIError as exc:
        raise _api_error(exc, "cancelling the fine-tuning job", client) from None
    finally:
        await client.close()
    ids = run.state.get(run.key)
    return FineTuneResult(
        job_id=job.id, status=job.status, fine_tuned_model=job.fine_tuned_model,
        model=opts.model, training_file_id=str(ids.get("training_file_id") or job.training_file),
        validation_file_id=ids.get("validation_file_id"), trained_tokens=job.trained_tokens,
        error=None, attached=True,
    )  # fmt: skip


def cancel_finetune(train: str | os.PathLike[str], **options: Any) -> FineTuneResult:
    """Synchronous :func:`acancel_finetune` (same options)."""
    return run_sync(acancel_finetune(train, **options))
