"""Graph v1.0 over HTTP (everything under ``/v1.0``).

One route takes every path so that any error — unknown segment, wrong
method, bad body — comes back in Graph's OData envelope. Paths are matched
segment by segment; ``/users/{id or userPrincipalName}/…`` of the signed-in
user is the same as ``/me/…``. Every request needs a bearer token (401
``InvalidAuthenticationToken`` otherwise) and passes the throttle.

``Prefer`` (read on every request): ``odata.maxpagesize=N``,
``outlook.timezone="…"`` (Windows or IANA name), ``IdType="ImmutableId"``;
the applied ones are echoed in ``Preference-Applied``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.common.oauth import AccessToken
from sandbox.common.push import call_endpoint
from sandbox.microsoft import errors
from sandbox.microsoft.delta import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, window
from sandbox.microsoft.errors import GraphError
from sandbox.microsoft.events import View, validate_write
from sandbox.microsoft.state import (
    READ_SCOPES,
    USER_SCOPES,
    WRITE_SCOPES,
    MicrosoftSandboxState,
)
from sandbox.microsoft.store import event_items, item_start
from sandbox.microsoft.timezones import zone_for

log = logging.getLogger(__name__)

DELTA = frozenset(
    {"delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()"}
)
NOT_WITH_DELTA = ("$select", "$expand", "$filter", "$orderby", "$search")
ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
VALIDATION_USER_AGENT = "Microsoft Graph change notifications (sandbox)"
_EXPAND_ID = re.compile(r"id\s+eq\s+'([^']*)'", re.IGNORECASE)


class Call:
    """One request: what it asked for, and how to answer."""

    def __init__(self, request: Request, access: AccessToken, path: str) -> None:
        self.request = request
        self.access = access
        self.path = path  # without /v1.0
        self.params = dict(request.query_params.items())
        self.applied: list[str] = []
        self.prefer = _prefer(request.headers.getlist("prefer"))
        zone_name = self.prefer.get("outlook.timezone")
        zone = zone_for(zone_name) if zone_name else None
        if zone is not None:
            self.applied.append(f'outlook.timezone="{zone_name}"')
        immutable = self.prefer.get("idtype", "").lower() == "immutableid"
        if immutable:
            self.applied.append('IdType="ImmutableId"')
        expand = self.params.get("$expand")
        ext: tuple[str, ...] | None = None
        if expand and expand.startswith("singleValueExtendedProperties"):
            ext = tuple(_EXPAND_ID.findall(expand)) or ("",)
        self.view = View(zone, zone_name or "UTC", immutable, ext)

    def page_size(self) -> int:
        raw = self.prefer.get("odata.maxpagesize")
        if raw and raw.isdigit() and int(raw) > 0:
            size = min(int(raw), MAX_PAGE_SIZE)
            self.applied.append(f"odata.maxpagesize={size}")
            return size
        return DEFAULT_PAGE_SIZE

    def top(self) -> int:
        raw = self.params.get("$top")
        if raw is not None:
            if not raw.isdigit() or int(raw) < 1:
                raise errors.bad_request(f"Invalid $top value '{raw}'.")
            return min(int(raw), MAX_PAGE_SIZE)
        return self.page_size()

    def skip(self) -> int:
        raw = self.params.get("$skip", "0")
        if not raw.isdigit():
            raise errors.bad_request(f"Invalid $skip value '{raw}'.")
        return int(raw)

    async def body(self) -> dict[str, Any]:
        raw = await self.request.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise errors.bad_request(
                "Unable to read JSON request payload. Please ensure Content-Type "
                "header is set and payload is of valid JSON format.",
            ) from exc
        if not isinstance(body, dict):
            raise errors.bad_request("The request body must be a JSON object.")
        return body

    def answer(self, body: Any, status: int = 200) -> Response:
        headers = {"OData-Version": "4.0"}
        if self.applied:
            headers["Preference-Applied"] = ",".join(self.applied)
        if body is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(
            body, status_code=status, headers=headers, media_type=ODATA_JSON
        )


def graph_routes(state: MicrosoftSandboxState) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        client_request_id = request.headers.get("client-request-id")
        try:
            access = state.authenticate(request.headers.get("authorization"))
            key = state.admit(access)
            try:
                path = "/" + request.path_params["rest"].strip("/")
                response = await _dispatch(state, Call(request, access, path))
            finally:
                state.release(key)
        except GraphError as exc:
            response = JSONResponse(
                exc.body(client_request_id), status_code=exc.status, headers=exc.headers
            )
        except Exception:  # an answer in Graph's shape, and a log line
            log.exception("sandbox failure on %s %s", request.method, request.url.path)
            response = JSONResponse(
                errors.service_unavailable(status=500).body(client_request_id),
                status_code=500,
            )
        response.headers["request-id"] = str(uuid.uuid4())
        response.headers["client-request-id"] = (
            client_request_id or response.headers["request-id"]
        )
        return response

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    return [Route("/v1.0/{rest:path}", endpoint, methods=methods)]


async def _dispatch(state: MicrosoftSandboxState, call: Call) -> Response:
    segs = [s for s in call.path.split("/") if s]
    if not segs:
        raise errors.resource_not_found("v1.0")
    if segs[0].lower() == "users":
        if len(segs) < 2 or not _is_me(state, call.access, segs[1]):
            raise errors.access_denied()
        segs = ["me", *segs[2:]]
    head = segs[0].lower()
    if head == "subscriptions":
        return await _subscriptions(state, call, segs[1:])
    if head != "me":
        raise errors.resource_not_found(segs[0])
    return await _me(state, call, segs[1:])


async def _me(state: MicrosoftSandboxState, call: Call, rest: list[str]) -> Response:
    method = call.request.method
    if not rest:
        _only(method, "GET")
        return call.answer(_me_body(state, call.access))
    first = rest[0].lower()
    if first == "calendars" and len(rest) == 1:
        _only(method, "GET")
        return call.answer(_list_calendars(state, call))
    cal_ref: str | None
    if first == "calendars":
        cal_ref, tail = rest[1], rest[2:]
    elif first == "calendar":
        cal_ref, tail = None, rest[1:]
    else:
        cal_ref, tail = None, rest
        if first not in ("calendarview", "events"):
            raise errors.resource_not_found(rest[0])
        return await _in_calendar(state, call, None, tail, explicit=False)
    return await _in_calendar(state, call, cal_ref, tail, explicit=True)


async def _in_calendar(
    state: MicrosoftSandboxState,
    call: Call,
    cal_ref: str | None,
    tail: list[str],
    *,
    explicit: bool,
) -> Response:
    method = call.request.method
    email = call.access.email
    if not tail:
        _only(method, "GET")
        with state.lock:
            state.require(call.access, READ_SCOPES)
            cal = state.store.calendar_of(email, cal_ref)
            body = {
                "@odata.context": f"{state.base_url}/v1.0/$metadata#users('{email}')/calendars/$entity",
                **state.store.render_calendar(cal),
            }
        return call.answer(body)
    what = tail[0].lower()
    if what == "calendarview" and len(tail) == 1:
        _only(method, "GET")
        return call.answer(_calendar_view(state, call, cal_ref))
    if what == "calendarview" and len(tail) == 2 and tail[1].lower() in DELTA:
        _only(method, "GET")
        bad = [p for p in NOT_WITH_DELTA if p in call.params]
        if bad:
            raise GraphError(
                400,
                "ErrorInvalidUrlQuery",
                "The following parameters are not supported with change tracking "
                f"over the 'CalendarView' resource: '{', '.join(bad)}'.",
            )
        size = call.page_size()
        with state.lock:
            state.require(call.access, READ_SCOPES)
            cal = state.store.calendar_of(email, cal_ref)
            page = state.delta.page(email, cal, call.path, call.params, call.view, size)
        return call.answer(page)
    if what != "events":
        raise errors.resource_not_found(tail[0])
    if len(tail) == 1:
        if method == "POST":
            return call.answer(await _create(state, call, cal_ref), 201)
        _only(method, "GET")
        return call.answer(_list_events(state, call, cal_ref))
    event_ref = cal_ref if explicit else None
    if len(tail) == 3 and tail[2].lower() == "instances":
        _only(method, "GET")
        return call.answer(_instances(state, call, event_ref, tail[1]))
    if len(tail) != 2:
        raise errors.resource_not_found(tail[-1])
    return await _event(state, call, event_ref, tail[1])


async def _event(
    state: MicrosoftSandboxState, call: Call, cal_ref: str | None, event_id: str
) -> Response:
    method = call.request.method
    email = call.access.email
    if method == "GET":
        with state.lock:
            state.require(call.access, READ_SCOPES)
            stored, original = state.store.resolve(email, cal_ref, event_id)
            body = {
                "@odata.context": f"{state.base_url}/v1.0/$metadata#users('{email}')/events/$entity",
                **state.store.render(stored, original, call.view),
            }
        return call.answer(body)
    if method == "PATCH":
        changes = await call.body()
        with state.lock:
            state.require(call.access, WRITE_SCOPES)
            stored, original = state.store.resolve(email, cal_ref, event_id)
            if not state.store.calendars[stored.calendar_id].can_edit:
                raise errors.access_denied()
            fields = validate_write(changes, creating=False)
            state.store.patch(
                stored,
                original,
                fields,
                call.request.headers.get("if-match"),
                control=False,
            )
            return call.answer(state.store.render(stored, original, call.view))
    if method == "DELETE":
        with state.lock:
            state.require(call.access, WRITE_SCOPES)
            stored, original = state.store.resolve(email, cal_ref, event_id)
            if not state.store.calendars[stored.calendar_id].can_edit:
                raise errors.access_denied()
            state.store.delete(stored, original, call.request.headers.get("if-match"))
        return call.answer(None, 204)
    raise _method_not_allowed(method)


async def _create(
    state: MicrosoftSandboxState, call: Call, cal_ref: str | None
) -> dict[str, Any]:
    body = await call.body()
    with state.lock:
        state.require(call.access, WRITE_SCOPES)
        cal = state.store.calendar_of(call.access.email, cal_ref)
        if not cal.can_edit:
            raise errors.access_denied()
        fields = validate_write(body, creating=True)
        txn = fields.get("transactionId")
        # transactionId: a retried create gets the event the first attempt made
        # instead of a second one (event resource).
        existing = (
            state.store.existing_transaction(call.access.email, txn) if txn else None
        )
        stored = existing or state.store.insert(
            cal, fields, control=False, validated=True
        )
        return state.store.render(stored, None, call.view)


def _me_body(state: MicrosoftSandboxState, access: AccessToken) -> dict[str, Any]:
    with state.lock:
        state.require(access, USER_SCOPES)
        box = state.store.mailboxes[access.email]
        user = box.user
        given, _, surname = user.name.partition(" ")
        return {
            "@odata.context": f"{state.base_url}/v1.0/$metadata#users/$entity",
            "businessPhones": [],
            "displayName": user.name,
            "givenName": given or None,
            "jobTitle": None,
            # Personal accounts often have no mail; userPrincipalName is the address.
            "mail": user.email if user.kind == "work" else None,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "surname": surname or None,
            "userPrincipalName": user.email,
            "id": box.object_id,
        }


def _list_calendars(state: MicrosoftSandboxState, call: Call) -> dict[str, Any]:
    top, skip = call.top(), call.skip()
    with state.lock:
        state.require(call.access, READ_SCOPES)
        box = state.store.mailboxes[call.access.email]
        cals = [state.store.calendars[c] for c in box.calendars]
        out: dict[str, Any] = {
            "@odata.context": f"{state.base_url}/v1.0/$metadata#users('{call.access.email}')/calendars",
            "value": [state.store.render_calendar(c) for c in cals[skip : skip + top]],
        }
    if skip + top < len(cals):
        out["@odata.nextLink"] = _link(state, call, {"$top": top, "$skip": skip + top})
    return out


def _calendar_view(
    state: MicrosoftSandboxState, call: Call, cal_ref: str | None
) -> dict[str, Any]:
    lo, hi = window(call.params)
    top, skip = call.top(), call.skip()
    with state.lock:
        state.require(call.access, READ_SCOPES)
        cal = state.store.calendar_of(call.access.email, cal_ref)
        items = state.store.view_items(cal, lo, hi)
        items.sort(key=lambda ko: item_start(cal.events[ko[0]], ko[1]))
        value = [
            state.store.render(cal.events[k], o, call.view, collection=True)
            for k, o in items[skip : skip + top]
        ]
    out: dict[str, Any] = {
        "@odata.context": f"{state.base_url}/v1.0/$metadata#Collection(event)",
        "value": value,
    }
    if skip + top < len(items):
        out["@odata.nextLink"] = _link(state, call, {"$top": top, "$skip": skip + top})
    return out


def _list_events(
    state: MicrosoftSandboxState, call: Call, cal_ref: str | None
) -> dict[str, Any]:
    """Singles and series masters (``/events`` does not expand series)."""
    top, skip = call.top(), call.skip()
    with state.lock:
        state.require(call.access, READ_SCOPES)
        cal = state.store.calendar_of(call.access.email, cal_ref)
        live = [ev for ev in cal.events.values() if not ev.deleted]
        value = [
            state.store.render(ev, None, call.view, collection=True)
            for ev in live[skip : skip + top]
        ]
    out: dict[str, Any] = {
        "@odata.context": f"{state.base_url}/v1.0/$metadata#Collection(event)",
        "value": value,
    }
    if skip + top < len(live):
        out["@odata.nextLink"] = _link(state, call, {"$top": top, "$skip": skip + top})
    return out


def _instances(
    state: MicrosoftSandboxState, call: Call, cal_ref: str | None, event_id: str
) -> dict[str, Any]:
    lo, hi = window(call.params)
    with state.lock:
        state.require(call.access, READ_SCOPES)
        stored, original = state.store.resolve(call.access.email, cal_ref, event_id)
        if original is not None or not stored.is_series:
            raise errors.item_not_found()
        items = sorted(event_items(stored, lo, hi), key=lambda o: item_start(stored, o))
        value = [
            state.store.render(stored, o, call.view, collection=True) for o in items
        ]
    return {
        "@odata.context": f"{state.base_url}/v1.0/$metadata#Collection(event)",
        "value": value,
    }


async def _subscriptions(
    state: MicrosoftSandboxState, call: Call, rest: list[str]
) -> Response:
    method = call.request.method
    access = call.access
    if not rest:
        if method == "GET":
            with state.lock:
                return call.answer({"value": state.subs.listing(access)})
        _only(method, "POST")
        return call.answer(await _subscribe(state, call), 201)
    sub_id = rest[0]
    if len(rest) == 2 and rest[1].lower() == "reauthorize":
        _only(method, "POST")
        with state.lock:
            state.subs.get(access, sub_id).reauthorization_required = False
        return call.answer(None, 204)
    if len(rest) != 1:
        raise errors.resource_not_found(rest[-1])
    if method == "GET":
        with state.lock:
            return call.answer(state.subs.render(state.subs.get(access, sub_id)))
    if method == "PATCH":
        body = await call.body()
        with state.lock:
            return call.answer(state.subs.renew(access, sub_id, body))
    if method == "DELETE":
        with state.lock:
            state.subs.get(access, sub_id).active = False
        return call.answer(None, 204)
    raise _method_not_allowed(method)


async def _subscribe(state: MicrosoftSandboxState, call: Call) -> dict[str, Any]:
    body = await call.body()
    with state.lock:
        state.require(call.access, READ_SCOPES)
        calendar_id, types, expiration = state.subs.check(call.access, body)
        timeout = state.subs.validation_timeout
    for name in ("notificationUrl", "lifecycleNotificationUrl"):
        url = body.get(name)
        if not url:
            continue
        token = state.subs.validation_token()
        result = await call_endpoint(
            "POST",
            state.subs.validation_url(str(url), token),
            timeout=timeout,
            headers={"Content-Type": "text/plain; charset=utf-8"},
            user_agent=VALIDATION_USER_AGENT,
        )
        with state.lock:
            state.subs.record_validation(str(url), result)
        if result.status_code is None:
            raise GraphError(
                400, "ValidationError", "Subscription validation request timeout."
            )
        if (
            result.status_code != 200
            or not result.content_type.lower().startswith("text/plain")
            or result.response_text != token
        ):
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Notification endpoint "
                "must respond with 200 OK to validation request.",
            )
    with state.lock:
        return state.subs.create(call.access, body, calendar_id, types, expiration)


def _is_me(state: MicrosoftSandboxState, access: AccessToken, ref: str) -> bool:
    with state.lock:
        box = state.store.mailboxes[access.email]
        return ref.lower() in (access.email, box.object_id.lower())


def _link(state: MicrosoftSandboxState, call: Call, extra: dict[str, Any]) -> str:
    params = {k: v for k, v in call.params.items() if k not in ("$top", "$skip")}
    params.update({k: str(v) for k, v in extra.items()})
    return f"{state.base_url}/v1.0{call.path}?{urlencode(params, safe='$:')}"


def _only(method: str, allowed: str) -> None:
    if method != allowed:
        raise _method_not_allowed(method)


def _method_not_allowed(method: str) -> GraphError:
    return GraphError(
        405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed here."
    )


def _prefer(values: list[str]) -> dict[str, str]:
    """``Prefer`` preferences (several headers, comma-separated, quoted values)."""
    out: dict[str, str] = {}
    for header in values:
        for part in re.findall(r'(?:[^,"]|"[^"]*")+', header):
            name, _, value = part.strip().partition("=")
            if name:
                out[name.strip().lower()] = value.strip().strip('"')
    return out
