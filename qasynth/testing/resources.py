"""The fake server's stateful endpoints: files, fine-tuning jobs and batches.

Everything advances by being looked at, never by the clock, so tests run as fast
as their client polls: an uploaded file is ``uploaded`` when created and
``processed`` from its first retrieve on; a fine-tuning job moves one status per retrieve
(``validating_files`` → ``queued`` → ``running`` → ``succeeded``, or ``failed``
with an error when the server was built with ``fine_tune_error=``); a batch moves
``validating`` → ``in_progress`` → ``finalizing`` → ``completed``, and its output
file then holds one line per request, answered as the server answers live calls.

A job that succeeds makes a fine-tuned model (``ft:BASE:fake-org:SUFFIX:JOBID``)
that only memorises its training file: a chat request to it whose last user
message is a training question (compared case- and space-insensitively) gets that
example's answer verbatim; anything else gets ``I don't know.``
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DONT_KNOW", "FileUpload", "Resources", "Result", "parse_multipart"]

DONT_KNOW = "I don't know."
_JOB_STEPS = ("validating_files", "queued", "running")
_BATCH_STEPS = ("validating", "in_progress", "finalizing")
_TERMINAL_JOB = frozenset({"succeeded", "failed", "cancelled"})
_TERMINAL_BATCH = frozenset({"completed", "failed", "cancelled", "expired"})

Result = tuple[int, dict[str, Any] | bytes]
"""HTTP status and a JSON payload (a dict) or raw file bytes."""

ChatAnswer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]
"""Answers one chat-completions body as the live endpoint would: (status, payload)."""


@dataclass(frozen=True)
class FileUpload:
    """A multipart upload: the file's name and bytes, and the form's purpose."""

    filename: str
    content: bytes
    purpose: str


def parse_multipart(content_type: str, body: bytes) -> FileUpload | None:
    """The ``file`` and ``purpose`` fields of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    filename, content, purpose = "", b"", ""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "file":
            filename, content = str(part.get_filename() or "upload"), data
        elif name == "purpose":
            purpose = data.decode("utf-8", "replace").strip()
    return FileUpload(filename, content, purpose) if filename else None


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _error(status: int, message: str, param: str | None = None) -> Result:
    kind = "invalid_request_error"
    return status, {"error": {"message": message, "type": kind, "param": param, "code": None}}


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": False,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None}  # fmt: skip


@dataclass
class _Job:
    payload: dict[str, Any]
    memory: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)
    step: int = 0


@dataclass
class _Batch:
    payload: dict[str, Any]
    step: int = 0


class Resources:
    """Files, fine-tuning jobs, batches and fine-tuned models, behind one lock."""

    def __init__(self, *, fine_tune_error: str | None = None) -> None:
        self.fine_tune_error = fine_tune_error
        self._lock = threading.Lock()
        self._files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._jobs: dict[str, _Job] = {}
        self._batches: dict[str, _Batch] = {}
        self._models: dict[str, dict[str, str]] = {}
        self._ids = 0

    # what tests look at
    @property
    def files(self) -> list[dict[str, Any]]:
        """Every uploaded file's metadata, in upload order."""
        with self._lock:
            return [dict(meta) for meta, _ in self._files.values()]

    @property
    def jobs(self) -> list[dict[str, Any]]:
        """Every fine-tuning job as last reported, in creation order."""
        with self._lock:
            return [dict(job.payload) for job in self._jobs.values()]

    @property
    def batches(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(batch.payload) for batch in self._batches.values()]

    def fine_tuned(self, model: str) -> dict[str, str] | None:
        """What a fine-tuned model memorised (question key → answer); None if unknown."""
        with self._lock:
            return self._models.get(model)

    def model_ids(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def memorised_answer(self, model: str, question: str) -> str | None:
        """The fine-tuned model's reply to ``question``; None when ``model`` is not one."""
        memory = self.fine_tuned(model)
        if memory is None:
            return None
        return memory.get(_key(question), DONT_KNOW)

    def _new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-fake{self._ids:04d}"

    # files
    def upload(self, upload: FileUpload | None) -> Result:
        if upload is None:
            return _error(400, "Send multipart/form-data with 'file' and 'purpose'.", "file")
        if upload.purpose not in ("fine-tune", "batch", "assistants", "user_data", "evals"):
            return _error(400, f"Unknown purpose {upload.purpose!r}.", "purpose")
        with self._lock:
            file_id = self._new_id("file")
            meta = {
                "id": file_id, "object": "file", "bytes": len(upload.content),
                "created_at": int(time.time()), "filename": upload.filename,
                "purpose": upload.purpose, "status": "uploaded", "status_details": None,
            }  # fmt: skip
            self._files[file_id] = (meta, upload.content)
            return 200, dict(meta)

    def list_files(self, query: Mapping[str, str]) -> Result:
        purpose = query.get("purpose")
        with self._lock:
            items = [dict(m) for m, _ in self._files.values() if purpose in (None, m["purpose"])]
        return 200, _page(items)

    def retrieve_file(self, file_id: str) -> Result:
        with self._lock:
            if file_id not in self._files:
                return _error(404, f"No such File object: {file_id}", "id")
            meta, _ = self._files[file_id]
            meta["status"] = "processed"  # processed once looked at
            return 200, dict(meta)

    def file_content(self, file_id: str) -> Result:
        with self._lock:
            if file_id not in self._files:
                return _error(404, f"No such File object: {file_id}", "id")
            return 200, self._files[file_id][1]

    # fine-tuning jobs
    def create_job(self, body: Mapping[str, Any]) -> Result:
        training = body.get("training_file")
        with self._lock:
            if not isinstance(body.get("model"), str):
                return _error(400, "Missing required parameter: 'model'.", "model")
            if training not in self._files:
                return _error(400, f"Invalid file ID: {training}", "training_file")
            validation = body.get("validation_file")
            if validation is not None and validation not in self._files:
                return _error(400, f"Invalid file ID: {validation}", "validation_file")
            memory = _memory(self._files[str(training)][1])
            job_id = self._new_id("ftjob")
            hyper = dict(body.get("hyperparameters") or {})
            method = body.get("method")
            if isinstance(method, dict):
                supervised = (method.get("supervised") or {}).get("hyperparameters") or {}
                hyper.update(supervised)
            payload: dict[str, Any] = {
                "id": job_id, "object": "fine_tuning.job", "model": body["model"],
                "created_at": int(time.time()), "finished_at": None, "fine_tuned_model": None,
                "organization_id": "org-fake", "result_files": [], "status": _JOB_STEPS[0],
                "validation_file": validation, "training_file": training,
                "hyperparameters": {"n_epochs": hyper.get("n_epochs", "auto"),
                                    "batch_size": "auto", "learning_rate_multiplier": "auto"},
                "trained_tokens": None, "error": None, "seed": 0,
                "suffix": body.get("suffix"), "metadata": body.get("metadata"),
            }  # fmt: skip
            job = _Job(payload, memory)
            self._event(job, f"Created fine-tuning job: {job_id}")
            self._jobs[job_id] = job
            return 200, dict(payload)

    def _event(self, job: _Job, message: str, level: str = "info") -> None:
        number = len(job.events) + 1
        job.events.append({
            "id": f"{job.payload['id']}-event-{number}", "object": "fine_tuning.job.event",
            "created_at": int(time.time()), "level": level, "message": message,
            "type": "message", "data": {},
        })  # fmt: skip

    def list_jobs(self, query: Mapping[str, str]) -> Result:
        prefix = "metadata["
        wanted = {k[len(prefix) : -1]: v for k, v in query.items() if k.startswith(prefix)}
        with self._lock:
            jobs = [dict(j.payload) for j in reversed(self._jobs.values())]
        if wanted:
            jobs = [j for j in jobs if all((j["metadata"] or {}).get(k) == v
                                           for k, v in wanted.items())]  # fmt: skip
        return 200, _page(jobs)

    def retrieve_job(self, job_id: str) -> Result:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return _error(404, f"No such fine-tuning job: {job_id}", "id")
            shown = dict(job.payload)
            self._advance(job)
            return 200, shown

    def _advance(self, job: _Job) -> None:
        payload = job.payload
        if payload["status"] in _TERMINAL_JOB:
            return
        job.step += 1
        if job.step < len(_JOB_STEPS):
            payload["status"] = _JOB_STEPS[job.step]
            self._event(job, f"Fine-tuning job {payload['status'].replace('_', ' ')}")
            return
        payload["finished_at"] = int(time.time())
        if self.fine_tune_error is not None:
            payload["status"] = "failed"
            payload["error"] = {"code": "fake_failure", "message": self.fine_tune_error,
                                "param": None}  # fmt: skip
            self._event(job, f"Fine-tuning job failed: {self.fine_tune_error}", "error")
            return
        epochs = payload["hyperparameters"]["n_epochs"]
        epochs = epochs if isinstance(epochs, int) else 3
        tokens = sum(len(q) + len(a) for q, a in job.memory.items()) // 4 * epochs
        suffix = payload.get("suffix") or "qasynth"
        model = f"ft:{payload['model']}:fake-org:{suffix}:{payload['id']}"
        payload.update(status="succeeded", fine_tuned_model=model, trained_tokens=tokens)
        self._models[model] = dict(job.memory)
        self._event(job, f"Step {epochs}/{epochs}: training loss=0.01")
        self._event(job, f"New fine-tuned model created: {model}")
        self._event(job, "The job has successfully completed")

    def job_events(self, job_id: str) -> Result:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return _error(404, f"No such fine-tuning job: {job_id}", "id")
            return 200, _page([dict(e) for e in reversed(job.events)])  # newest first

    def cancel_job(self, job_id: str) -> Result:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return _error(404, f"No such fine-tuning job: {job_id}", "id")
            if job.payload["status"] in _TERMINAL_JOB:
                return _error(400, f"Job {job_id} has already {job.payload['status']}.")
            job.payload.update(status="cancelled", finished_at=int(time.time()))
            self._event(job, "Fine-tuning job cancelled")
            return 200, dict(job.payload)

    # batches
    def create_batch(self, body: Mapping[str, Any]) -> Result:
        input_id = body.get("input_file_id")
        endpoint = body.get("endpoint")
        with self._lock:
            if input_id not in self._files:
                return _error(400, f"Invalid file ID: {input_id}", "input_file_id")
            if endpoint != "/v1/chat/completions":
                return _error(400, f"Unsupported endpoint {endpoint!r}.", "endpoint")
            lines = self._files[str(input_id)][1].decode("utf-8", "replace").splitlines()
            batch_id = self._new_id("batch")
            payload: dict[str, Any] = {
                "id": batch_id, "object": "batch", "endpoint": endpoint, "errors": None,
                "input_file_id": input_id, "completion_window": body.get("completion_window"),
                "status": _BATCH_STEPS[0], "output_file_id": None, "error_file_id": None,
                "created_at": int(time.time()), "completed_at": None, "cancelled_at": None,
                "request_counts": {"total": sum(1 for x in lines if x.strip()),
                                   "completed": 0, "failed": 0},
                "metadata": body.get("metadata"),
            }  # fmt: skip
            self._batches[batch_id] = _Batch(payload)
            return 200, dict(payload)

    def list_batches(self) -> Result:
        with self._lock:
            return 200, _page([dict(b.payload) for b in reversed(self._batches.values())])

    def retrieve_batch(self, batch_id: str, answer: ChatAnswer) -> Result:
        raw: bytes | None = None
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return _error(404, f"No such batch: {batch_id}", "id")
            shown = dict(batch.payload)
            payload = batch.payload
            if payload["status"] == "cancelling":
                payload.update(status="cancelled", cancelled_at=int(time.time()))
            elif payload["status"] not in _TERMINAL_BATCH:
                batch.step += 1
                if batch.step < len(_BATCH_STEPS):
                    payload["status"] = _BATCH_STEPS[batch.step]
                    return 200, shown
                raw = self._files[payload["input_file_id"]][1]
        if raw is not None:  # answered outside the lock: the responder may be slow
            self._complete(batch, raw, answer)
        return 200, shown

    def _complete(self, batch: _Batch, raw: bytes, answer: ChatAnswer) -> None:
        done: list[str] = []
        failed: list[str] = []
        for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
            if line.strip():
                ok, out = _batch_line(number, line, answer)
                (done if ok else failed).append(out)
        with self._lock:
            payload = batch.payload
            for kind, lines in (("output_file_id", done), ("error_file_id", failed)):
                if lines:
                    content = ("\n".join(lines) + "\n").encode("utf-8")
                    file_id = self._new_id("file")
                    meta = {
                        "id": file_id, "object": "file", "bytes": len(content),
                        "created_at": int(time.time()), "purpose": "batch_output",
                        "filename": f"{batch.payload['id']}_{kind[:-8]}.jsonl",
                        "status": "processed", "status_details": None,
                    }  # fmt: skip
                    self._files[file_id] = (meta, content)
                    payload[kind] = file_id
            payload["request_counts"] = {"total": len(done) + len(failed),
                                         "completed": len(done), "failed": len(failed)}  # fmt: skip
            payload.update(status="completed", completed_at=int(time.time()))

    def cancel_batch(self, batch_id: str) -> Result:
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return _error(404, f"No such batch: {batch_id}", "id")
            if batch.payload["status"] in _TERMINAL_BATCH:
                return _error(400, f"Batch {batch_id} has already {batch.payload['status']}.")
            batch.payload["status"] = "cancelling"
            return 200, dict(batch.payload)


def _memory(content: bytes) -> dict[str, str]:
    """Training question (last user message) → answer (last assistant message)."""
    memory: dict[str, str] = {}
    for line in content.decode("utf-8", "replace").splitlines():
        try:
            messages = json.loads(line).get("messages") or []
        except (ValueError, AttributeError):
            continue
        users = [m.get("content") for m in messages if m.get("role") == "user"]
        answers = [m.get("content") for m in messages if m.get("role") == "assistant"]
        if users and answers and isinstance(users[-1], str) and isinstance(answers[-1], str):
            memory[_key(users[-1])] = answers[-1]
    return memory


def _batch_line(number: int, line: str, answer: ChatAnswer) -> tuple[bool, str]:
    """One output line for one input line; (answered with 200, the JSON line)."""
    custom_id: Any = None
    try:
        request = json.loads(line)
        custom_id = request.get("custom_id")
        if request.get("url") != "/v1/chat/completions" or not isinstance(
            request.get("body"), dict
        ):
            raise ValueError("each line needs url /v1/chat/completions and a body")
    except (ValueError, AttributeError) as exc:
        error = {"code": "invalid_request", "message": f"line {number}: {exc}"}
        return False, json.dumps({"id": f"batch_req_{number}", "custom_id": custom_id,
                                  "response": None, "error": error})  # fmt: skip
    status, body = answer(request["body"])
    response = {"status_code": status, "request_id": f"req_{number}", "body": body}
    out = {"id": f"batch_req_{number}", "custom_id": custom_id, "response": response,
           "error": None}  # fmt: skip
    return status == 200, json.dumps(out, ensure_ascii=False)
