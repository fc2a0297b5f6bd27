"""IAM's XML envelope: its namespace and API version, and result and error documents in IAM's shape (built on
the shared Query renderer in protocols/query_xml.py)."""

from keyhold.errors import ServiceError
from keyhold.protocols.http import Response
from keyhold.protocols.iam.errors import iam_error
from keyhold.protocols.query_xml import QueryError, XmlDict, error_response, result_response

API_VERSION = "2010-05-08"
NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"


def result(action: str, body: XmlDict | None, request_id: str) -> Response:
    return result_response(action, NAMESPACE, body, request_id)


def service_error(error: ServiceError, request_id: str) -> Response:
    code, status = iam_error(error)
    return error_response(NAMESPACE, code, error.message, status, request_id, sender=status < 500)


def query_error(error: QueryError, request_id: str) -> Response:
    return error_response(NAMESPACE, error.code, error.message, error.status, request_id)
