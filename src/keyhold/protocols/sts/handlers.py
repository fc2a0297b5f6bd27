"""The STS operations Keyhold implements: GetCallerIdentity, answered from the verified principal alone."""

from keyhold.domain.identity.model import Principal
from keyhold.domain.identity.service import IdentityService
from keyhold.protocols.query_xml import Params, XmlDict


def get_caller_identity(_identity: IdentityService, caller: Principal, _params: Params) -> XmlDict:
    return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}
