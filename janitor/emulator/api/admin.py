"""The admin API under ``/_emulator``: for tests that drive an emulator in another process.

``GET /_emulator/log`` ({"entries": [...]}), ``DELETE /_emulator/log``,
``POST /_emulator/faults`` (a fault as JSON, see ``faults.Fault.from_dict``),
``GET /_emulator/faults``, ``DELETE /_emulator/faults``,
``GET /_emulator/state/{namespace}`` (the seed dump of one namespace).
Admin calls are not logged, not rate limited and never faulted.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from janitor.emulator.api.common import JSONAnswer, ctx_of
from janitor.emulator.faults import Fault
from janitor.emulator.seed import dump_seed


async def get_log(request: Request) -> Response:
    return JSONAnswer({"entries": [e.to_dict() for e in ctx_of(request).log.entries()]})


async def clear_log(request: Request) -> Response:
    ctx_of(request).log.clear()
    return Response(status_code=204)


async def add_fault(request: Request) -> Response:
    try:
        fault = Fault.from_dict(json.loads(await request.body() or b"null"))
    except ValueError as exc:
        return JSONAnswer({"message": str(exc)}, status_code=400)
    ctx_of(request).faults.add(fault)
    return JSONAnswer(fault.to_dict(), status_code=201)


async def list_faults(request: Request) -> Response:
    return JSONAnswer({"faults": [f.to_dict() for f in ctx_of(request).faults.pending()]})


async def clear_faults(request: Request) -> Response:
    ctx_of(request).faults.clear()
    return Response(status_code=204)


async def namespace_state(request: Request) -> Response:
    namespace = request.path_params["namespace"]
    try:
        return JSONAnswer(dump_seed(ctx_of(request).state, namespace))
    except KeyError:
        return JSONAnswer({"message": f"no namespace {namespace!r}"}, status_code=404)
