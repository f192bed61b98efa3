"""HTTP routes of the sandbox's Calendar API v3 (mounted at ``/calendar/v3``).

Every route needs ``Authorization: Bearer <access token>`` (401 with Google's
``authError`` body otherwise) and the scopes Google requires for it (403
``insufficientPermissions``). Errors use Google's documented JSON body.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.google.errors import ApiError
from sandbox.google.state import AccessToken, GoogleSandboxState

Handler = Callable[[Request, AccessToken], Awaitable[Response]]


def api_routes(state: GoogleSandboxState) -> list[Route]:
    """The Calendar API routes bound to ``state``."""

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                access = state.authenticate(request.headers.get("authorization"))
                return await handler(request, access)
            except ApiError as exc:
                return JSONResponse(
                    exc.body(), status_code=exc.code, headers=exc.headers
                )

        return run

    def params(request: Request) -> dict[str, str]:
        return {k: v for k, v in request.query_params.items()}

    def multi(request: Request) -> dict[str, list[str]]:
        return {
            key: request.query_params.getlist(key)
            for key in ("privateExtendedProperty", "sharedExtendedProperty")
        }

    def event_response(data: dict[str, Any], status: int = 200) -> JSONResponse:
        return JSONResponse(data, status_code=status, headers={"ETag": data["etag"]})

    async def calendar_list(request: Request, access: AccessToken) -> Response:
        return JSONResponse(state.calendar_list(access, params(request)))

    async def calendar_list_entry(request: Request, access: AccessToken) -> Response:
        return JSONResponse(
            state.calendar_list_entry(access, request.path_params["calendar_id"])
        )

    async def calendar_get(request: Request, access: AccessToken) -> Response:
        return JSONResponse(
            state.calendar_get(access, request.path_params["calendar_id"])
        )

    async def events_list(request: Request, access: AccessToken) -> Response:
        return JSONResponse(
            state.list_events(
                access,
                request.path_params["calendar_id"],
                params(request),
                multi(request),
            )
        )

    async def events_insert(request: Request, access: AccessToken) -> Response:
        body = await json_body(request)
        data = state.insert_event_api(access, request.path_params["calendar_id"], body)
        return event_response(data)

    async def events_watch(request: Request, access: AccessToken) -> Response:
        body = await json_body(request)
        return JSONResponse(
            state.watch(access, request.path_params["calendar_id"], body)
        )

    async def event_get(request: Request, access: AccessToken) -> Response:
        data = state.get_event_api(
            access,
            request.path_params["calendar_id"],
            request.path_params["event_id"],
            params(request),
        )
        if request.headers.get("if-none-match") == data["etag"]:
            return Response(status_code=304, headers={"ETag": data["etag"]})
        return event_response(data)

    async def event_write(request: Request, access: AccessToken) -> Response:
        body = await json_body(request)
        data = state.write_event_api(
            access,
            request.path_params["calendar_id"],
            request.path_params["event_id"],
            body,
            patch=request.method == "PATCH",
            if_match=request.headers.get("if-match"),
        )
        return event_response(data)

    async def event_delete(request: Request, access: AccessToken) -> Response:
        state.delete_event_api(
            access,
            request.path_params["calendar_id"],
            request.path_params["event_id"],
            if_match=request.headers.get("if-match"),
        )
        return Response(status_code=204)

    async def event_instances(request: Request, access: AccessToken) -> Response:
        return JSONResponse(
            state.instances_api(
                access,
                request.path_params["calendar_id"],
                request.path_params["event_id"],
                params(request),
            )
        )

    async def channels_stop(request: Request, access: AccessToken) -> Response:
        state.stop_channel(access, await json_body(request))
        return Response(status_code=204)

    async def free_busy(request: Request, access: AccessToken) -> Response:
        return JSONResponse(state.free_busy(access, await json_body(request)))

    cal = "/calendars/{calendar_id}"
    return [
        Route("/users/me/calendarList", endpoint(calendar_list), methods=["GET"]),
        Route(
            "/users/me/calendarList/{calendar_id}",
            endpoint(calendar_list_entry),
            methods=["GET"],
        ),
        Route(cal, endpoint(calendar_get), methods=["GET"]),
        Route(cal + "/events", endpoint(events_list), methods=["GET"]),
        Route(cal + "/events", endpoint(events_insert), methods=["POST"]),
        Route(cal + "/events/watch", endpoint(events_watch), methods=["POST"]),
        Route(
            cal + "/events/{event_id}/instances",
            endpoint(event_instances),
            methods=["GET"],
        ),
        Route(cal + "/events/{event_id}", endpoint(event_get), methods=["GET"]),
        Route(
            cal + "/events/{event_id}",
            endpoint(event_write),
            methods=["PUT", "PATCH"],
        ),
        Route(cal + "/events/{event_id}", endpoint(event_delete), methods=["DELETE"]),
        Route("/channels/stop", endpoint(channels_stop), methods=["POST"]),
        Route("/freeBusy", endpoint(free_busy), methods=["POST"]),
    ]


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "parseError", "Parse Error") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "parseError", "Parse Error")
    return body
