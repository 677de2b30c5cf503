"""HTTP routes of the QBO sandbox: Intuit's OAuth token endpoint, the v3 accounting API, and
sandbox-only admin endpoints under /_sandbox."""
from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..serving import DroppedAnswer, found_or_404, replace_faults
from . import errors
from .codec import loads
from .company import Company
from .faults import Faults
from .sandbox import DROPPED, QBOSandbox
from .upload import uploaded_files


def _json_body(raw: bytes) -> object:
    try:
        return loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.malformed_request(f"the request body is not valid JSON: {exc}") from None


def _company_settings(body: dict) -> dict:
    """The seeding call's optional company settings: country, home_currency, multicurrency, book_close_date."""
    settings = {key: body[key] for key in ("country", "home_currency", "multicurrency", "book_close_date")
                if body.get(key) is not None}
    if "multicurrency" in settings and not isinstance(settings["multicurrency"], bool):
        raise ValueError("multicurrency must be true or false")
    return settings


def create_app(sandbox: QBOSandbox) -> FastAPI:
    app = FastAPI(title="QuickBooks Online sandbox (LedgerBridge)", openapi_url=None)

    async def api(request: Request, realm_id: str, action, *, requestid: str | None = None,
                  batch: bool = False, mutating: bool = False) -> Response:
        # State work runs in the thread pool so concurrent requests really overlap (and can be throttled).
        status, text, media_type = await run_in_threadpool(
            sandbox.api, realm_id, request.headers.get("authorization"), action,
            requestid=requestid, batch=batch, mutating=mutating)
        if status == DROPPED:
            return DroppedAnswer(b'{"BatchItemResponse": [', "after the commit")
        return Response(text, status_code=status, media_type=media_type,
                        headers={"intuit_tid": uuid.uuid4().hex})

    @app.post("/oauth2/v1/tokens/bearer")
    async def token(request: Request) -> Response:
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        status, body = await run_in_threadpool(sandbox.exchange_token, request.headers.get("authorization"), form)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    @app.get("/.well-known/openid_configuration")
    async def discovery(request: Request) -> dict:
        """Intuit's OpenID discovery document, pointing at this sandbox: OAuth libraries (intuit-oauth)
        read their endpoints from it, so they work against the sandbox given this URL."""
        base = str(request.base_url).rstrip("/")
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/connect/oauth2",
            "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
            "jwks_uri": f"{base}/oauth2/v1/keys",
            "response_types_supported": ["code"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone", "com.intuit.quickbooks.accounting"],
        }

    @app.get("/_sandbox/health")
    async def health() -> dict:
        return {"ok": True}

    @app.post("/_sandbox/realms")
    async def create_realm(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            settings = _company_settings(body)
            realm_id, refresh_token = await run_in_threadpool(
                lambda: sandbox.create_realm(body.get("client_id", ""), body.get("realm_id"),
                                             body.get("company_name") or "Sandbox Company", **settings))
        except (ValueError, AttributeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"realm_id": realm_id, "refresh_token": refresh_token}, status_code=201)

    @app.post("/_sandbox/realms/{realm_id}/preferences")
    async def set_preferences(realm_id: str, request: Request) -> Response:
        """QBO's settings page: {"multicurrency": true} turns multicurrency on (never off again);
        {"book_close_date": "2026-03-31"} closes the books up to that date, null reopens them."""
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict) or set(body) - {"multicurrency", "book_close_date"}:
                raise ValueError("the body takes only multicurrency (true) and book_close_date (YYYY-MM-DD or null)")
            if "multicurrency" in body and not isinstance(body["multicurrency"], bool):
                raise ValueError("multicurrency must be true or false")
            found = await run_in_threadpool(sandbox.set_preferences, realm_id, body.get("multicurrency"),
                                            body.get("book_close_date", ...))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return found_or_404({"ok": True} if found else None, f"no realm {realm_id}")

    @app.post("/_sandbox/faults")
    async def set_faults(request: Request) -> Response:
        """Replace the fault knobs, e.g. {"throttle_rate": 0.1, "error_rate": 0.05}; {} turns them off."""
        return await replace_faults(sandbox, Faults, request)

    @app.get("/_sandbox/realms/{realm_id}/stats")
    async def stats(realm_id: str) -> Response:
        return found_or_404(await run_in_threadpool(sandbox.stats, realm_id), f"no realm {realm_id}")

    @app.get("/v3/company/{realm_id}/query")
    async def query_get(realm_id: str, request: Request) -> Response:
        text = request.query_params.get("query")
        return await api(request, realm_id, lambda company: company.query(text))

    @app.post("/v3/company/{realm_id}/query")
    async def query_post(realm_id: str, request: Request) -> Response:
        text = (await request.body()).decode("utf-8", "replace")
        return await api(request, realm_id, lambda company: company.query(text))

    @app.get("/v3/company/{realm_id}/cdc")
    async def cdc(realm_id: str, request: Request) -> Response:
        entities, since = request.query_params.get("entities"), request.query_params.get("changedSince")
        return await api(request, realm_id, lambda company: company.cdc(entities, since))

    @app.get("/v3/company/{realm_id}/preferences")
    async def preferences(realm_id: str, request: Request) -> Response:
        return await api(request, realm_id, Company.preferences)

    @app.post("/v3/company/{realm_id}/preferences")
    async def update_preferences(realm_id: str, request: Request) -> Response:
        raw = await request.body()
        return await api(request, realm_id, lambda company: company.update_preferences(_json_body(raw)),
                         requestid=request.query_params.get("requestid"), mutating=True)

    @app.get("/v3/company/{realm_id}/exchangerate")
    async def exchange_rate(realm_id: str, request: Request) -> Response:
        params = request.query_params
        return await api(request, realm_id,
                         lambda company: company.exchange_rate(params.get("sourcecurrencycode"), params.get("asofdate")))

    @app.post("/v3/company/{realm_id}/exchangerate")
    async def set_exchange_rate(realm_id: str, request: Request) -> Response:
        raw = await request.body()
        return await api(request, realm_id, lambda company: company.set_exchange_rate(_json_body(raw)),
                         requestid=request.query_params.get("requestid"), mutating=True)

    @app.post("/v3/company/{realm_id}/batch")
    async def batch(realm_id: str, request: Request) -> Response:
        raw, requestid = await request.body(), request.query_params.get("requestid")
        return await api(request, realm_id, lambda company: company.batch(_json_body(raw), requestid),
                         batch=True, mutating=True)

    @app.post("/v3/company/{realm_id}/upload")
    async def upload(realm_id: str, request: Request) -> Response:
        raw, content_type = await request.body(), request.headers.get("content-type")
        return await api(request, realm_id,
                         lambda company: company.upload(uploaded_files(raw, content_type, sandbox.max_upload_bytes)),
                         requestid=request.query_params.get("requestid"), mutating=True)

    @app.post("/v3/company/{realm_id}/taxservice/taxcode")
    async def tax_service(realm_id: str, request: Request) -> Response:
        raw = await request.body()
        return await api(request, realm_id, lambda company: company.tax_service(_json_body(raw)),
                         requestid=request.query_params.get("requestid"), mutating=True)

    @app.get("/v3/company/{realm_id}/{entity}/{object_id}")
    async def read(realm_id: str, entity: str, object_id: str, request: Request) -> Response:
        return await api(request, realm_id, lambda company: company.read(entity, object_id))

    @app.post("/v3/company/{realm_id}/{entity}")
    async def write(realm_id: str, entity: str, request: Request) -> Response:
        raw, params = await request.body(), request.query_params
        includes = {part.strip().lower() for part in params.get("include", "").split(",")}
        return await api(request, realm_id,
                         lambda company: company.write(entity, _json_body(raw), params.get("operation"),
                                                       "allowduplicatedocnum" in includes, "void" in includes),
                         requestid=params.get("requestid"), mutating=True)

    return app
