"""Rendering for AWS JSON 1.1 services (KMS): one send per response, errors as {"__type", "message"}."""

import json
from typing import Any

from keyhold.protocols.http import Response

CONTENT_TYPE = "application/x-amz-json-1.1"


def ok(request_id: str, body: dict[str, Any] | None = None) -> Response:
    payload = json.dumps(body or {}, separators=(",", ":")).encode()
    return Response(200, payload, [("content-type", CONTENT_TYPE), ("x-amzn-requestid", request_id)])


def error(request_id: str, code: str, message: str, status: int = 400) -> Response:
    payload = json.dumps({"__type": code, "message": message}, separators=(",", ":")).encode()
    return Response(
        status,
        payload,
        [("content-type", CONTENT_TYPE), ("x-amzn-requestid", request_id), ("x-amzn-errortype", code)],
    )
