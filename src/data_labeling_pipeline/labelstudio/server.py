"""A Label Studio server, through label-studio-sdk 2.x: the I/O edge of push and pull.

Every call goes through :meth:`Server.call`, which retries connection errors, timeouts,
429 and 5xx with exponential backoff (the SDK's own retries are turned off, so a
retried import is re-checked for what already arrived) and turns what remains into a
:class:`ServerError` that says what failed and how to fix it. The API key is read from
the environment variable named in params and passed to the SDK explicitly; it never
appears in a message.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, PipelineError, Problem, require

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
EXPORT_TIMEOUT_FACTOR = 10  # a snapshot export request may take this many times pull.timeout
# A snapshot export as pull reads it: annotators with their e-mails, predictions as objects.
SNAPSHOT_OPTIONS = {"annotations__completed_by": {"only_id": False}, "drafts": {"only_id": True},
                    "predictions": {"only_id": False}}


class ServerError(PipelineError):
    """Label Studio could not be reached, or refused a request."""


@dataclass(frozen=True)
class Settings:
    url: str
    api_key_env: str
    timeout: float = 60.0
    retries: int = 4
    backoff: float = 0.5
    page_size: int = 500

    @classmethod
    def from_params(cls, params: dict) -> Settings:
        server, pull = params["project"]["label_studio"], params["pull"]
        return cls(url=server["url"].rstrip("/"), api_key_env=server["api_key_env"], timeout=float(pull["timeout"]),
                   retries=int(pull["retries"]), backoff=float(pull["backoff"]), page_size=int(pull["page_size"]))


def api_key(settings: Settings, environ=os.environ) -> str:
    key = environ.get(settings.api_key_env, "").strip()
    if not key:
        raise ConfigError([Problem("params.yaml", None, "project.label_studio.api_key_env",
                                   f"the Label Studio API key is not set: export {settings.api_key_env}=<your token> "
                                   "(Account & Settings > Access Token); it is read from the environment only")])
    return key


class Server:
    """One Label Studio server with retries; :func:`connect` builds it from params."""

    def __init__(self, settings: Settings, key: str, *, sleep: Callable[[float], None] = time.sleep):
        sdk = require("label_studio_sdk", "labelstudio")
        self.settings, self._sleep = settings, sleep
        self.client = sdk.LabelStudio(base_url=settings.url, api_key=key, timeout=settings.timeout, max_retries=0)

    def close(self) -> None:
        """Close the HTTP connections (the SDK client has no close of its own)."""
        self.client._client_wrapper.httpx_client.httpx_client.close()

    def call(self, what: str, fn: Callable[..., Any], *args, idempotent: bool = True, **kwargs) -> Any:
        """``fn(*args, **kwargs)``, retried on transient failures; ``what`` names it in errors.

        A request that is not ``idempotent`` is not repeated after a read timeout: the server
        may still be doing it, and a second one would do it twice.
        """
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            try:
                return fn(*args, **kwargs)
            except httpx.ReadTimeout as exc:
                if not idempotent or attempt == attempts - 1:
                    raise ServerError(f"Label Studio at {self.settings.url} did not answer within the timeout to "
                                      f"{what} ({type(exc).__name__}); raise pull.timeout for large projects") \
                        from None
            except ApiError as exc:
                status = exc.status_code or 0
                if status not in RETRYABLE_STATUS or attempt == attempts - 1:
                    raise self._refused(what, status, exc.body, attempts if status in RETRYABLE_STATUS else 1) \
                        from None
            except (httpx.TransportError, OSError) as exc:
                if attempt == attempts - 1:
                    raise ServerError(f"cannot reach Label Studio at {self.settings.url} to {what} after {attempts} "
                                      f"attempts ({type(exc).__name__}: {exc}); is the server running? "
                                      "(project.label_studio.url, pull.timeout, pull.retries)") from None
            self._sleep(self.settings.backoff * 2 ** attempt)
        raise AssertionError("unreachable")

    def _refused(self, what: str, status: int, body: Any, attempts: int) -> ServerError:
        detail = _detail(body)
        if status == 401:
            hint = f"the API key in {self.settings.api_key_env} was refused; copy it again from Account & Settings"
        elif status == 403:
            hint = f"the user of the key in {self.settings.api_key_env} may not do this"
        elif status == 404:
            hint = "check project.label_studio.project_id (and the per-annotator project ids) in params.yaml"
        else:
            hint = f"after {attempts} attempt(s)" if attempts > 1 else "the server refused the request"
        return ServerError(f"Label Studio at {self.settings.url} answered {status} to {what}: {detail} ({hint})")

    # -- reads -------------------------------------------------------------------------------

    def project(self, project_id: int) -> dict:
        found = self.call(f"read project {project_id}", self.client.projects.get, id=project_id)
        return _plain(found)

    def users(self) -> dict[int, str]:
        """User id -> e-mail of everyone in the organisation."""
        return {u.id: u.email for u in self.call("list users", self.client.users.list) if u.email}

    def tasks(self, project_id: int, *, updated_after: str | None = None, fields: str = "all") -> Iterator[dict]:
        """The project's tasks page by page, oldest update first; only those updated after ``updated_after``.

        Label Studio answers 404 for a page past the end: that ends the listing.
        """
        from label_studio_sdk.core.api_error import ApiError

        query = None
        if updated_after:
            query = json.dumps({"filters": {"conjunction": "and", "items": [
                {"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime",
                 "value": updated_after}]}, "ordering": ["tasks:id"]})
        size = self.settings.page_size
        page = 1
        while True:
            def one_page(page=page):
                try:
                    return self.client.tasks.list(project=project_id, fields=fields, page=page, page_size=size,
                                                  query=query).items
                except ApiError as exc:
                    if exc.status_code == 404 and page > 1:
                        return []
                    raise
            found = self.call(f"list tasks of project {project_id} (page {page})", one_page)
            for task in found:
                yield _plain(task)
            if len(found) < size:
                return
            page += 1

    def snapshot_tasks(self, project_id: int, *, poll: float = 0.2) -> list[dict]:
        """Every task of the project through a snapshot export (annotators with e-mails, predictions as
        objects): one request for the whole project instead of a page per ``page_size`` tasks.

        The export is built by the server in the background; it is polled for up to
        ``pull.timeout`` seconds, downloaded, and deleted from the server afterwards.
        """
        exports = self.client.projects.exports
        # Label Studio Community builds the export inside this request: allow it more than one page's time.
        made = self.call(f"start a snapshot export of project {project_id}", exports.create, id=project_id,
                         title="dlp pull", serialization_options=SNAPSHOT_OPTIONS, idempotent=False,
                         request_options={"timeout_in_seconds": int(self.settings.timeout * EXPORT_TIMEOUT_FACTOR)})
        try:
            deadline = time.monotonic() + self.settings.timeout
            while True:
                status = self.call(f"check the snapshot export of project {project_id}", exports.get,
                                   project_id, made.id).status
                if status == "completed":
                    break
                if status == "failed" or time.monotonic() > deadline:
                    raise ServerError(f"Label Studio at {self.settings.url} did not finish the snapshot export of "
                                      f"project {project_id} (status {status!r} after {self.settings.timeout:g} s; "
                                      "raise pull.timeout, or see the server's log)")
                self._sleep(poll)
            data = self.call(f"download the snapshot export of project {project_id}",
                             lambda: b"".join(exports.download(project_id, made.id, export_type="JSON")))
        finally:
            try:
                exports.delete(project_id, made.id)
            except Exception:  # noqa: BLE001  cleaning up the server's copy is best effort
                pass
        return json.loads(data)

    def item_ids(self, project_id: int) -> dict[str, int]:
        """item_id -> task id of the project's tasks that carry one."""
        found = {}
        for task in self.tasks(project_id, fields="task_only"):
            item_id = (task.get("data") or {}).get("item_id")
            if isinstance(item_id, str):
                found.setdefault(item_id, task["id"])
        return found

    # -- writes ------------------------------------------------------------------------------

    def create_project(self, title: str, label_config: str, **settings) -> int:
        made = self.call(f"create project {title!r}", self.client.projects.create, title=title,
                         label_config=label_config, **settings)
        return made.id

    def update_project(self, project_id: int, **changes) -> None:
        self.call(f"update project {project_id}", self.client.projects.update, id=project_id, **changes)

    def import_tasks(self, project_id: int, tasks: list[dict]) -> list[int]:
        done = self.call(f"import {len(tasks)} tasks into project {project_id}", self.client.projects.import_tasks,
                         id=project_id, request=tasks, return_task_ids=True)
        return list(done.task_ids or [])

    def remove_duplicates(self, project_id: int) -> int:
        """Delete the later tasks of an item_id imported twice (a retried import that had landed); returns how many."""
        seen: dict[str, int] = {}
        extra = []
        for task in self.tasks(project_id, fields="task_only"):
            item_id = (task.get("data") or {}).get("item_id")
            if not isinstance(item_id, str):
                continue
            if item_id in seen:
                extra.append(max(task["id"], seen[item_id]))
                seen[item_id] = min(task["id"], seen[item_id])
            else:
                seen[item_id] = task["id"]
        for task_id in extra:
            self.call(f"delete duplicate task {task_id}", self.client.tasks.delete, id=str(task_id))
        return len(extra)

    def local_storage(self, project_id: int, path: str) -> None:
        """A Local Files storage of the project rooted at ``path`` (so /data/local-files/ URLs resolve), once."""
        storages = self.client.import_storage.local
        existing = self.call(f"list local storages of project {project_id}", storages.list, project=project_id)
        if any(getattr(s, "path", None) == path for s in existing):
            return
        self.call(f"connect a Local Files storage to project {project_id}", storages.create, project=project_id,
                  path=path, title="repository", use_blob_urls=False)


def connect(params: dict, *, environ=os.environ) -> Server:
    settings = Settings.from_params(params)
    return Server(settings, api_key(settings, environ))


def _plain(model: Any) -> dict:
    """An SDK model as plain JSON data (datetimes as Label Studio writes them in exports)."""
    if isinstance(model, dict):
        return model
    data = model.dict() if hasattr(model, "dict") else dict(model)
    return json.loads(json.dumps(data, default=_iso))


def _iso(value: Any) -> str:
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        text = body.get("detail") or body.get("validation_errors") or body
        if isinstance(body.get("validation_errors"), dict):
            text = f"{body.get('detail') or 'invalid'}: {json.dumps(body['validation_errors'])}"
        return str(text)[:500]
    return str(body)[:500] if body else "no detail"
