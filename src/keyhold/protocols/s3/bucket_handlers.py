"""Bucket operations: create, delete, head, list, location, default encryption, bucket policy, object listings."""

import base64
import binascii

from keyhold.domain.objects.errors import InvalidArgument
from keyhold.protocols.http import Response
from keyhold.protocols.s3 import xml, xml_parse
from keyhold.protocols.s3.call import Call

MAX_KEYS = 1000


def list_buckets(call: Call) -> Response:
    buckets = call.store.buckets.list(call.ctx)
    return call.respond(body=xml.list_buckets(call.ctx.account_id, buckets))


def create_bucket(call: Call) -> Response:
    location = xml_parse.parse_create_bucket(call.small_body())
    call.store.buckets.create(call.ctx, call.bucket, location)
    return call.respond(headers=[("location", f"/{call.bucket}")])


def delete_bucket(call: Call) -> Response:
    call.store.buckets.delete(call.ctx, call.bucket)
    return call.respond(204)


def head_bucket(call: Call) -> Response:
    bucket = call.store.buckets.get(call.ctx, call.bucket, "s3:ListBucket")
    return call.respond(headers=[("x-amz-bucket-region", bucket.region)])


def get_bucket_location(call: Call) -> Response:
    bucket = call.store.buckets.get(call.ctx, call.bucket, "s3:GetBucketLocation")
    return call.respond(body=xml.location(bucket.region))


def get_bucket_acl(call: Call) -> Response:
    bucket = call.store.buckets.get(call.ctx, call.bucket, "s3:GetBucketAcl")
    return call.respond(body=xml.access_control_policy(bucket.account_id))


def get_bucket_encryption(call: Call) -> Response:
    encryption = call.store.buckets.get_encryption(call.ctx, call.bucket)
    body = xml.bucket_encryption(encryption) if encryption is not None else xml.default_bucket_encryption()
    return call.respond(body=body)


def put_bucket_encryption(call: Call) -> Response:
    encryption = xml_parse.parse_bucket_encryption(call.small_body())
    call.store.buckets.put_encryption(call.ctx, call.bucket, encryption)
    return call.respond()


def delete_bucket_encryption(call: Call) -> Response:
    call.store.buckets.delete_encryption(call.ctx, call.bucket)
    return call.respond(204)


def get_bucket_policy(call: Call) -> Response:
    policy = call.store.buckets.get_policy(call.ctx, call.bucket)
    return call.respond(body=policy.encode(), headers=[("content-type", "application/json")])


def put_bucket_policy(call: Call) -> Response:
    body = call.small_body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    call.store.buckets.put_policy(call.ctx, call.bucket, text)
    return call.respond(204)


def delete_bucket_policy(call: Call) -> Response:
    call.store.buckets.delete_policy(call.ctx, call.bucket)
    return call.respond(204)


def _max_keys(call: Call, name: str = "max-keys") -> int:
    value = call.query.get(name, str(MAX_KEYS))
    if not value.isdigit():
        raise InvalidArgument("Provided max-keys not an integer or within integer range", name, value)
    return min(int(value), MAX_KEYS)


def _encoding_type(call: Call) -> str | None:
    value = call.query.get("encoding-type")
    if value is not None and value != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request", "encoding-type", value)
    return value


def list_objects(call: Call) -> Response:
    prefix, delimiter = call.query.get("prefix", ""), call.query.get("delimiter", "")
    marker = call.query.get("marker") or None
    max_keys = _max_keys(call)
    encoding = _encoding_type(call)
    page = call.store.objects.list(call.ctx, call.bucket, prefix, delimiter, marker, max_keys)
    body = xml.list_objects(
        page,
        bucket=call.bucket,
        prefix=prefix,
        delimiter=delimiter,
        max_keys=max_keys,
        marker=marker,
        encoding_type=encoding,
        owner_id=call.ctx.account_id,
    )
    return call.respond(body=body)


def list_objects_v2(call: Call) -> Response:
    prefix, delimiter = call.query.get("prefix", ""), call.query.get("delimiter", "")
    token = call.query.get("continuation-token")
    start_after = call.query.get("start-after") or None
    after = start_after
    if token is not None:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidArgument("The continuation token provided is incorrect", "continuation-token", token) from None
    max_keys = _max_keys(call)
    encoding = _encoding_type(call)
    page = call.store.objects.list(call.ctx, call.bucket, prefix, delimiter, after, max_keys)
    next_token = None
    if page.truncated and page.next_marker is not None:
        next_token = base64.urlsafe_b64encode(page.next_marker.encode()).decode()
    body = xml.list_objects_v2(
        page,
        bucket=call.bucket,
        prefix=prefix,
        delimiter=delimiter,
        max_keys=max_keys,
        start_after=start_after,
        continuation_token=token,
        next_continuation_token=next_token,
        encoding_type=encoding,
        fetch_owner=call.query.get("fetch-owner") == "true",
        owner_id=call.ctx.account_id,
    )
    return call.respond(body=body)


def delete_objects(call: Call) -> Response:
    body = call.small_body()
    if "content-md5" not in call.headers and not any(n.startswith("x-amz-checksum-") for n in call.headers):
        raise InvalidArgument("Missing required header for this request: Content-MD5", "Content-MD5", "")
    quiet, keys = xml_parse.parse_delete_objects(body)
    deleted, errors = call.store.objects.delete_many(call.ctx, call.bucket, keys)
    return call.respond(body=xml.delete_objects_result([] if quiet else deleted, errors))
