"""HTTP routes of the SYSPRO sandbox: e.net REST logon/logoff/post, OData reads, and sandbox-only
admin routes under /sandbox (no session; loopback only)."""
from __future__ import annotations

import json

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..serving import DroppedAnswer, found_or_404
from .faults import Faults
from .sandbox import DROPPED, SysproSandbox
from .seed import seed_company

REST = "/SYSPROWCFService/Rest"


def create_app(sandbox: SysproSandbox) -> FastAPI:
    app = FastAPI(title="SYSPRO sandbox (LedgerBridge)", openapi_url=None)

    def answer(reply: tuple[int, str, str]) -> Response:
        status, text, media_type = reply
        if status == DROPPED:
            return DroppedAnswer(b'{"XmlOut": {"Orders": [', "after the post was applied")
        return Response(text, status_code=status, media_type=media_type, headers={"Date": sandbox.http_date()})

    @app.get(f"{REST}/Logon")
    async def logon(request: Request) -> Response:
        return answer(await run_in_threadpool(sandbox.logon, dict(request.query_params)))

    @app.get(f"{REST}/Logoff")
    async def logoff(request: Request) -> Response:
        user_id = request.query_params.get("UserId") or request.headers.get("UserId")
        return answer(await run_in_threadpool(sandbox.logoff, user_id))

    @app.post(f"{REST}/Transaction/Post")
    async def post(request: Request) -> Response:
        raw = await request.body()
        return answer(await run_in_threadpool(sandbox.post, request.headers.get("UserId"), raw))

    @app.get("/odata/{entity_set}")
    async def read(entity_set: str, request: Request) -> Response:
        return answer(await run_in_threadpool(sandbox.read, request.headers.get("UserId"), entity_set,
                                               dict(request.query_params)))

    # -- admin ---------------------------------------------------------------------------------
    async def admin(action, status: int = 200) -> Response:
        try:
            result = await run_in_threadpool(action)
        except KeyError as exc:
            return JSONResponse({"error": exc.args[0] if exc.args else str(exc)}, status_code=404)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(result, status_code=status)

    async def body(request: Request) -> dict:
        try:
            parsed = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise ValueError(f"the request body is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError("the request body must be a JSON object")
        return parsed

    async def with_body(request: Request, action, status: int = 200) -> Response:
        try:
            fields = await body(request)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return await admin(lambda: action(fields), status)

    @app.get("/sandbox/health")
    async def health() -> dict:
        return {"ok": True}

    @app.get("/sandbox/stats")
    async def stats() -> Response:
        return await admin(sandbox.stats)

    @app.post("/sandbox/stats/reset")
    async def reset_stats() -> Response:
        return await admin(lambda: (sandbox.reset_stats(), sandbox.stats())[1])

    @app.get("/sandbox/faults")
    async def get_faults() -> dict:
        return {"faults": sandbox.faults.knobs()}

    @app.post("/sandbox/faults")
    async def set_faults(request: Request) -> Response:
        """Replace the fault knobs, e.g. {"error_rate": 0.1, "drop_rate": 0.05}; {} turns them off."""
        return await with_body(request, lambda fields: {"faults": sandbox.set_faults(Faults.from_mapping(fields))
                                                        .knobs()})

    @app.post("/sandbox/sessions/expire")
    async def expire_sessions() -> Response:
        return await admin(lambda: {"ended": sandbox.expire_sessions()})

    @app.post("/sandbox/seed")
    async def seed(request: Request) -> Response:
        def run(fields: dict) -> dict:
            unknown = set(fields) - {"seed", "customers", "stock_items", "orders", "bad_orders"}
            if unknown:
                raise ValueError(f"unknown seed option(s): {', '.join(sorted(unknown))}")
            seed_company(sandbox, **fields)
            return sandbox.stats()["objects"]
        return await with_body(request, run)

    @app.get("/sandbox/orders/{number}")
    async def get_order(number: str) -> Response:
        return found_or_404(await run_in_threadpool(sandbox.order, number), f"Sales order {number} not on file")

    @app.post("/sandbox/orders")
    async def add_order(request: Request) -> Response:
        return await with_body(request, lambda fields: sandbox.add_order(**fields), 201)

    @app.patch("/sandbox/orders/{number}")
    async def change_order(number: str, request: Request) -> Response:
        return await with_body(request, lambda fields: sandbox.change_order(number, **fields))

    @app.post("/sandbox/orders/{number}/cancel")
    async def cancel_order(number: str) -> Response:
        return await admin(lambda: sandbox.cancel_order(number))

    @app.post("/sandbox/orders/{number}/lock")
    async def lock_order(number: str, request: Request) -> Response:
        return await with_body(request, lambda fields: (sandbox.lock_order(number, **fields),
                                                        {"SalesOrder": number, "locked": True})[1])

    @app.post("/sandbox/orders/{number}/unlock")
    async def unlock_order(number: str) -> Response:
        return await admin(lambda: (sandbox.unlock_order(number), {"SalesOrder": number, "locked": False})[1])

    @app.patch("/sandbox/customers/{code}")
    async def change_customer(code: str, request: Request) -> Response:
        return await with_body(request, lambda fields: sandbox.change_customer(code, **fields))

    @app.patch("/sandbox/stock-items/{code}")
    async def change_stock_item(code: str, request: Request) -> Response:
        return await with_body(request, lambda fields: sandbox.change_stock_item(code, **fields))

    return app
