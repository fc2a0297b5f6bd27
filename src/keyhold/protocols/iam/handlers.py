"""The IAM operations Keyhold implements: each reads its Query parameters, calls IdentityService, and returns
the XML result structure (member names as in botocore's IAM model), or None for operations without a result.
"""

from urllib.parse import quote

from keyhold.domain.identity.model import Principal
from keyhold.domain.identity.service import AccessKey, IdentityService, User
from keyhold.errors import Unsupported
from keyhold.protocols.query_xml import Params, XmlDict, XmlValue, iso8601


def _user(user: User) -> XmlDict:
    return {
        "Path": user.path,
        "UserName": user.user_name,
        "UserId": user.user_id,
        "Arn": user.arn,
        "CreateDate": iso8601(user.created_at),
    }


def _key_metadata(key: AccessKey) -> XmlDict:
    return {
        "UserName": key.user_name,
        "AccessKeyId": key.access_key_id,
        "Status": key.status,
        "CreateDate": iso8601(key.created_at),
    }


def _listing(member: str, items: list[XmlValue], marker: str | None) -> XmlDict:
    return {member: items, "IsTruncated": marker is not None, "Marker": marker}


def create_user(identity: IdentityService, caller: Principal, params: Params) -> XmlDict:
    if params.any_with_prefix("Tags.", "PermissionsBoundary"):
        raise Unsupported("Keyhold does not support tags or permissions boundaries on IAM users.")
    user = identity.create_user(caller, params.required("UserName"), params.get("Path"))
    return {"User": _user(user)}


def get_user(identity: IdentityService, caller: Principal, params: Params) -> XmlDict:
    return {"User": _user(identity.get_user(caller, params.get("UserName")))}


def list_users(identity: IdentityService, caller: Principal, params: Params) -> XmlDict:
    page = identity.list_users(caller, params.get("PathPrefix"), params.get("Marker"), params.integer("MaxItems"))
    return _listing("Users", [_user(user) for user in page.items], page.marker)


def delete_user(identity: IdentityService, caller: Principal, params: Params) -> None:
    identity.delete_user(caller, params.required("UserName"))


def create_access_key(identity: IdentityService, caller: Principal, params: Params) -> XmlDict:
    created = identity.create_access_key(caller, params.get("UserName"))
    key = created.key
    return {
        "AccessKey": {
            "UserName": key.user_name,
            "AccessKeyId": key.access_key_id,
            "Status": key.status,
            "SecretAccessKey": created.secret_access_key,
            "CreateDate": iso8601(key.created_at),
        }
    }


def list_access_keys(identity: IdentityService, caller: Principal, params: Params) -> XmlDict:
    page = identity.list_access_keys(caller, params.get("UserName"), params.get("Marker"), params.integer("MaxItems"))
    return _listing("AccessKeyMetadata", [_key_metadata(key) for key in page.items], page.marker)


def delete_access_key(identity: IdentityService, caller: Principal, params: Params) -> None:
    identity.delete_access_key(caller, params.required("AccessKeyId"), params.get("UserName"))


def update_access_key(identity: IdentityService, caller: Principal, params: Params) -> None:
    identity.update_access_key(
        caller, params.required("AccessKeyId"), params.required("Status"), params.get("UserName")
    )


def put_user_policy(identity: IdentityService, caller: Principal, params: Params) -> None:
    identity.put_user_policy(
        caller,
        params.required("UserName"),
        params.required("PolicyName"),
        params.required("PolicyDocument"),
    )


def get_user_policy(identity: IdentityService, caller: Principal, params: Params) -> XmlDict:
    policy = identity.get_user_policy(caller, params.required("UserName"), params.required("PolicyName"))
    return {
        "UserName": policy.user_name,
        "PolicyName": policy.policy_name,
        # IAM returns policy documents URL-encoded (RFC 3986); botocore decodes them.
        "PolicyDocument": quote(policy.document, safe=""),
    }


def delete_user_policy(identity: IdentityService, caller: Principal, params: Params) -> None:
    identity.delete_user_policy(caller, params.required("UserName"), params.required("PolicyName"))


def list_user_policies(identity: IdentityService, caller: Principal, params: Params) -> XmlDict:
    page = identity.list_user_policies(
        caller, params.required("UserName"), params.get("Marker"), params.integer("MaxItems")
    )
    return _listing("PolicyNames", list(page.items), page.marker)
