"""The Starlette application: OpenAI-compatible routes over one ModelService.

- ``GET /health``: the model, whether it is loaded, busy, the queue length,
  finished runs by reason (no API key needed; it tells nothing private).
- ``GET /v1/models``: the served model (its registry name, else its file name).
- ``POST /v1/chat/completions``, ``POST /v1/completions``: whole answers or
  server-sent events in OpenAI's chunk format ending with ``data: [DONE]``.
- ``POST /v1/responses``: the Responses API (responses_api.py), whole or as its
  typed events.

With ``tools`` offered (tool_calls.py), the answer is parsed for tool calls:
a whole answer carries them (``message.tool_calls``, ``function_call`` output
items); a stream holds the text back and sends, at the end, the content, the
calls and the finish (``finish_reason: "tool_calls"``).

Status codes: 400 for a malformed body (the error's ``param`` names the
field), settings that do not fit together, or a prompt the context cannot
hold (``code: context_length_exceeded``, the engine's message); 401 without
the API key when one is set; 500 when the engine fails (a crashed engine is
replaced on the next request).  A stream fails after it began with an
``{"error": ...}`` event and no ``[DONE]``.  A client that disconnects,
waiting or mid-answer, cancels its generation (within one denoising step).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import time
from collections.abc import Awaitable, Callable

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dgcode.engine.errors import EngineCrashedError, EngineError, InvalidSettingsError, PromptTooLongError
from dgcode.serve.protocol import BodyError, Sampling, chat_request, completion_request
from dgcode.serve.responses import Shapes, error, model_list
from dgcode.serve.responses_api import ResponseShapes, responses_request
from dgcode.serve.service import STARTED, Cancelled, CanvasState, ModelService, Outcome, Run

DISCONNECT_POLL_S = 0.1
CLIENT_CLOSED = 499


def _json(body: object, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


class RequireKey:
    """ASGI middleware: every ``/v1`` request needs ``Authorization: Bearer KEY`` (401 otherwise)."""

    def __init__(self, app, key: str):
        self.app, self.key = app, key.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1"):
            given = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, token = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.key):
                response = _json(error("missing or wrong API key: send the header Authorization: Bearer KEY "
                                       "(the key dgcode serve was started with)", code="invalid_api_key"), 401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _handled(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint with the engine's and the body's errors as OpenAI error responses."""

    async def wrapper(request: Request) -> Response:
        try:
            return await endpoint(request)
        except BodyError as exc:
            return _json(error(str(exc), param=exc.param), 400)
        except PromptTooLongError as exc:
            return _json(error(str(exc), param="messages" if "chat" in request.url.path else "prompt",
                               code="context_length_exceeded"), 400)
        except InvalidSettingsError as exc:
            return _json(error(str(exc)), 400)
        except Cancelled:
            return Response(status_code=CLIENT_CLOSED)
        except EngineCrashedError as exc:
            return _json(error(str(exc), "server_error", code="engine_crashed"), 500)
        except EngineError as exc:
            return _json(error(str(exc), "server_error", code="engine_error"), 500)

    return wrapper


async def _body(request: Request) -> dict:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BodyError(None, "the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BodyError(None, "the request body must be a JSON object")
    return body


async def _watch(request: Request, run: Run) -> None:
    """Cancel ``run`` when the client goes away (while its request waits without a response)."""
    while True:
        await asyncio.sleep(DISCONNECT_POLL_S)
        if await request.is_disconnected():
            run.cancel()
            return


def _result(item: concurrent.futures.Future) -> Outcome:
    if item.cancelled():
        raise Cancelled()
    return item.result()


async def _answer(request: Request, run: Run, shapes: Shapes | ResponseShapes, asked: Sampling) -> Response:
    watcher = asyncio.create_task(_watch(request, run))
    try:
        first = await run.items.get()
        while not asked.stream and not isinstance(first, concurrent.futures.Future):
            first = await run.items.get()  # a whole answer: skip the growing text
        if isinstance(first, concurrent.futures.Future):  # done (or failed) before its first text
            outcome = _result(first)  # an error here gets its own status code
            if not asked.stream:
                return _json(shapes.whole(outcome))
    except BaseException:
        run.cancel()
        raise
    finally:
        watcher.cancel()
    events = _response_events(run, shapes, first) if isinstance(shapes, ResponseShapes) else \
        _events(run, shapes, asked, first)
    return EventSourceResponse(events, ping=15)


async def _events(run: Run, shapes: Shapes, asked: Sampling, item: object):
    """The stream: a role chunk (chat), text chunks, the finish chunk with usage, [DONE]."""
    try:
        if shapes.chat:
            yield json.dumps(shapes.chunk(role=True))
        while True:
            if isinstance(item, concurrent.futures.Future):
                try:
                    outcome = _result(item)
                except (EngineError, Cancelled) as exc:
                    kind = "server_error" if isinstance(exc, EngineError) else "cancelled"
                    yield json.dumps(error(str(exc) or "cancelled", kind))
                    return
                answer = shapes.answer(outcome)
                if answer is None:
                    if outcome.rest:
                        yield json.dumps(shapes.chunk(outcome.rest))
                else:  # the text was held back: it may be calls
                    if answer.content:
                        yield json.dumps(shapes.chunk(answer.content))
                    if answer.calls:
                        yield json.dumps(shapes.tool_calls_chunk(answer.calls))
                yield json.dumps(shapes.chunk(finish=outcome))
                if asked.include_usage:
                    yield json.dumps(shapes.chunk(usage_only=outcome))
                yield "[DONE]"
                return
            if isinstance(item, CanvasState):
                yield json.dumps(shapes.canvas_chunk(item))
            elif item is not STARTED and shapes.offer is None:
                yield json.dumps(shapes.chunk(item))
            item = await run.items.get()
    finally:
        run.cancel()  # the client went away mid-answer: the engine stops at its next step


def _wants_canvas(asked: Sampling) -> bool:
    """The ``dgcode_canvas`` extension applies to streams only (a whole answer has no steps to show)."""
    return asked.canvas and asked.stream


async def _response_events(run: Run, shapes: ResponseShapes, item: object):
    """The Responses API stream: opening events, text deltas, closing events (no [DONE])."""
    try:
        for event in shapes.opening():
            yield {"event": event["type"], "data": json.dumps(event)}
        while True:
            if isinstance(item, concurrent.futures.Future):
                try:
                    outcome = _result(item)
                except (EngineError, Cancelled) as exc:
                    code = "server_error" if isinstance(exc, EngineError) else "cancelled"
                    event = shapes.failed(str(exc) or "cancelled", code)
                    yield {"event": event["type"], "data": json.dumps(event)}
                    return
                for event in shapes.closing(outcome, outcome.rest):
                    yield {"event": event["type"], "data": json.dumps(event)}
                return
            if isinstance(item, CanvasState):
                event = shapes.canvas(item)
                yield {"event": event["type"], "data": json.dumps(event)}
            elif item is not STARTED and item and shapes.offer is None:  # with tools: held back
                event = shapes.delta(item)
                yield {"event": event["type"], "data": json.dumps(event)}
            item = await run.items.get()
    finally:
        run.cancel()


@_handled
async def chat_completions(request: Request) -> Response:
    service: ModelService = request.app.state.service
    parsed = chat_request(await _body(request))
    settings = service.settings(parsed.sampling)
    offer = parsed.tools
    run = service.chat(parsed.messages, settings, parsed.sampling.stop, _wants_canvas(parsed.sampling),
                       parsed.prefix, parsed.suffix, offer.tools if offer is not None else None)
    return await _answer(request, run, Shapes(service.model_id, chat=True, offer=offer), parsed.sampling)


@_handled
async def completions(request: Request) -> Response:
    service: ModelService = request.app.state.service
    parsed = completion_request(await _body(request))
    settings = service.settings(parsed.sampling)
    run = service.complete(parsed.prompt, parsed.suffix, settings, parsed.sampling.stop,
                           _wants_canvas(parsed.sampling))
    return await _answer(request, run, Shapes(service.model_id, chat=False), parsed.sampling)


@_handled
async def responses(request: Request) -> Response:
    service: ModelService = request.app.state.service
    body = await _body(request)
    parsed = responses_request(body)
    settings = service.settings(parsed.sampling)
    offer = parsed.tools
    run = service.chat(parsed.messages, settings, (), _wants_canvas(parsed.sampling),
                       tools=offer.tools if offer is not None else None)
    return await _answer(request, run, ResponseShapes(service.model_id, body, offer), parsed.sampling)


async def models(request: Request) -> Response:
    service: ModelService = request.app.state.service
    return _json(model_list(service.model_id, request.app.state.created))


async def health(request: Request) -> Response:
    return _json(request.app.state.service.health())


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return _json(error(f"{request.method} {request.url.path}: {exc.detail}", code=str(exc.status_code)),
                 exc.status_code)


def create_app(service: ModelService, api_key: str | None = None) -> Starlette:
    """The application serving ``service``; with ``api_key``, /v1 needs it as a bearer token."""
    from starlette.middleware import Middleware

    routes = [Route("/health", health, methods=["GET"]), Route("/v1/models", models, methods=["GET"]),
              Route("/v1/chat/completions", chat_completions, methods=["POST"]),
              Route("/v1/completions", completions, methods=["POST"]),
              Route("/v1/responses", responses, methods=["POST"])]
    middleware = [Middleware(RequireKey, key=api_key)] if api_key else []
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: _http_error})
    app.state.service = service
    app.state.created = int(time.time())
    return app
