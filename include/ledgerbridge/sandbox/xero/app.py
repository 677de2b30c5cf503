"""HTTP routes of the Xero sandbox: Xero identity's token endpoint and /connections, the Accounting
API under /api.xro/2.0, and sandbox-only admin endpoints under /_sandbox."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..jsonmoney import dumps, loads
from ..serving import DroppedAnswer, found_or_404, replace_faults
from .faults import Faults
from .org import ATTACHABLE, ENDPOINTS, WRITABLE, Invalid, Organisation, public
from .sandbox import DROPPED, XeroSandbox, problem, validation_exception

_CANONICAL = {name.lower(): name for name in ENDPOINTS}
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
FILTERABLE_BY_IDS = ("Invoices", "Contacts")


def _since_ms(header: str | None) -> int | None:
    """If-Modified-Since as epoch ms: an HTTP date or an ISO 8601 time (UTC when it has no offset)."""
    if not header:
        return None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        try:
            moment = datetime.fromisoformat(header.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _not_found(what: str) -> tuple[int, dict]:
    return 404, problem(404, "NotFound", f"The resource you're looking for cannot be found: {what}")


def create_app(sandbox: XeroSandbox) -> FastAPI:
    app = FastAPI(title="Xero sandbox (LedgerBridge)", openapi_url=None)

    async def api(request: Request, action, *, mutating: bool = False) -> Response:
        status, body, headers = await run_in_threadpool(
            sandbox.api, request.headers.get("authorization"), request.headers.get("xero-tenant-id"), action,
            mutating=mutating, idempotency_key=request.headers.get("idempotency-key"))
        if status == DROPPED:
            return DroppedAnswer(b'{"Id": "', "after the commit")
        if isinstance(body, bytes):
            return Response(body, status_code=status, headers=headers, media_type="application/octet-stream")
        return Response(dumps(body), status_code=status, headers=headers, media_type="application/json")

    def endpoint_of(name: str) -> str | None:
        return _CANONICAL.get(name.lower())

    @app.post("/connect/token")
    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        status, body = await run_in_threadpool(sandbox.exchange_token, request.headers.get("authorization"), form)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    @app.get("/connections")
    @app.get("/Connections")  # Xero's paths ignore case; xero-python's IdentityApi asks for this one
    async def connections(request: Request) -> Response:
        status, body = await run_in_threadpool(sandbox.connections, request.headers.get("authorization"))
        return JSONResponse(body, status_code=status)

    @app.get("/_sandbox/health")
    async def health() -> dict:
        return {"ok": True}

    @app.post("/_sandbox/tenants")
    async def create_tenant(request: Request) -> Response:
        """{"client_id": ..., "name"?: ..., "tenant_id"?: ..., "country_code"?: "US" | "AU" | ...,
        "base_currency"?: ...} -> {"tenant_id", "refresh_token"}."""
        try:
            body = json.loads(await request.body() or b"{}")
            tenant_id, refresh_token = await run_in_threadpool(
                sandbox.create_tenant, body.get("client_id", ""), body.get("name") or "Demo Company",
                body.get("tenant_id"), body.get("country_code") or "US", body.get("base_currency"))
        except (ValueError, AttributeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"tenant_id": tenant_id, "refresh_token": refresh_token}, status_code=201)

    @app.post("/_sandbox/faults")
    async def set_faults(request: Request) -> Response:
        """Replace the fault knobs, e.g. {"throttle_rate": 0.1, "error_rate": 0.05}; {} turns them off."""
        return await replace_faults(sandbox, Faults, request)

    @app.get("/_sandbox/tenants/{tenant_id}/stats")
    async def stats(tenant_id: str) -> Response:
        return found_or_404(await run_in_threadpool(sandbox.stats, tenant_id), f"no tenant {tenant_id}")

    @app.get("/api.xro/2.0/{name}")
    async def list_records(name: str, request: Request) -> Response:
        endpoint = endpoint_of(name)
        since = _since_ms(request.headers.get("if-modified-since"))
        page = request.query_params.get("page")
        # IDs=<id>,<id>,...: the endpoints whose filter xero-python documents (get_invoices, get_contacts).
        raw_ids = next((v for k, v in request.query_params.items() if k.lower() == "ids"), None)
        ids = (frozenset(i.strip().lower() for i in raw_ids.split(",") if i.strip())
               if raw_ids is not None and endpoint in FILTERABLE_BY_IDS else None)

        def action(org: Organisation):
            if name.lower() == "organisation":
                return 200, org.organisation()
            if endpoint is None:
                return _not_found(name)
            if page is not None and (not page.isdigit() or int(page) < 1):
                return 400, validation_exception([{"ValidationErrors": [{"Message": "page must be 1 or more"}]}])
            return 200, org.get(endpoint, None, since, int(page) if page else None, ids)
        return await api(request, action)

    @app.get("/api.xro/2.0/{name}/{record_id}")
    async def read(name: str, record_id: str, request: Request) -> Response:
        endpoint = endpoint_of(name)

        def action(org: Organisation):
            found = org.get(endpoint, record_id, None, None) if endpoint else {"_status": 404}
            return _not_found(f"{name}/{record_id}") if found.get("_status") == 404 else (200, found)
        return await api(request, action)

    async def write(name: str, request: Request, record_id: str | None = None) -> Response:
        endpoint, raw = endpoint_of(name), await request.body()
        summarize = request.query_params.get("summarizeErrors", "true").lower() != "false"

        def action(org: Organisation):
            if endpoint not in WRITABLE:
                return _not_found(name)
            try:
                body = loads(raw or b"null")
            except (ValueError, UnicodeDecodeError) as exc:
                return 400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                             "Message": f"The request body is not valid JSON: {exc}"}
            if record_id is not None:
                if not isinstance(body, dict):
                    return 400, validation_exception([{"ValidationErrors": [{"Message": "A JSON object is needed"}]}])
                body = body.get(endpoint, [body])
                body = {endpoint: [{**element, ENDPOINTS[endpoint]: record_id} if isinstance(element, dict)
                                   else element for element in body]}
            return XeroSandbox.write_batch(org, endpoint, body, summarize)
        return await api(request, action, mutating=True)

    @app.put("/api.xro/2.0/{name}")
    async def put(name: str, request: Request) -> Response:
        return await write(name, request)

    @app.post("/api.xro/2.0/{name}")
    async def post(name: str, request: Request) -> Response:
        return await write(name, request)

    @app.post("/api.xro/2.0/{name}/{record_id}")
    async def post_one(name: str, record_id: str, request: Request) -> Response:
        return await write(name, request, record_id)

    async def attach(name: str, record_id: str, file_name: str, request: Request) -> Response:
        endpoint, raw = endpoint_of(name), await request.body()
        mime_type = request.headers.get("content-type") or "application/octet-stream"

        def action(org: Organisation):
            if endpoint not in ATTACHABLE:
                return _not_found(name)
            if len(raw) > MAX_ATTACHMENT_BYTES:
                return 413, problem(413, "Request Entity Too Large", "Attachments may be up to 25 MB")
            try:
                answer = org.attach(endpoint, record_id, file_name, base64.b64encode(raw).decode("ascii"),
                                    len(raw), mime_type)
            except Invalid as invalid:
                return 400, validation_exception([{"ValidationErrors": [{"Message": m} for m in invalid.messages]}])
            return _not_found(f"{name}/{record_id}") if answer.get("_status") == 404 else (200, answer)
        return await api(request, action, mutating=True)

    @app.put("/api.xro/2.0/{name}/{record_id}/Attachments/{file_name}")
    async def put_attachment(name: str, record_id: str, file_name: str, request: Request) -> Response:
        return await attach(name, record_id, file_name, request)

    @app.post("/api.xro/2.0/{name}/{record_id}/Attachments/{file_name}")
    async def post_attachment(name: str, record_id: str, file_name: str, request: Request) -> Response:
        return await attach(name, record_id, file_name, request)

    @app.get("/api.xro/2.0/{name}/{record_id}/Attachments")
    async def list_attachments(name: str, record_id: str, request: Request) -> Response:
        return await api(request, lambda org: (200, {"Attachments": [public(a) for a in org.attachments_of(record_id)]}))

    @app.get("/api.xro/2.0/{name}/{record_id}/Attachments/{file_name}")
    async def read_attachment(name: str, record_id: str, file_name: str, request: Request) -> Response:
        def action(org: Organisation):
            found = next((a for a in org.attachments_of(record_id) if a["FileName"] == file_name), None)
            return _not_found(file_name) if found is None else (200, base64.b64decode(found["_content"]))
        return await api(request, action)

    return app
