"""IAM Query-protocol entry points: ``handle`` dispatches on the Action parameter through one explicit table,
``auth_error`` answers requests whose signature failed.

Operations IAM has (botocore's model, API version 2010-05-08) that Keyhold does not implement are answered
``NotImplemented`` (HTTP 501); names IAM does not have get IAM's own ``InvalidAction`` (400).
"""

from __future__ import annotations

from collections.abc import Callable

from keyhold.domain.identity.model import Principal
from keyhold.domain.identity.service import IdentityService
from keyhold.errors import ServiceError
from keyhold.protocols.http import Request, Response
from keyhold.protocols.iam import handlers
from keyhold.protocols.iam.errors import iam_error
from keyhold.protocols.iam.xml import API_VERSION, NAMESPACE, query_error, result, service_error
from keyhold.protocols.query_audit import Outcome
from keyhold.protocols.query_xml import (
    UNSUPPORTED_CODE,
    Params,
    QueryError,
    XmlDict,
    auth_error_response,
    dispatch_action,
    unsupported_response,
)
from keyhold.protocols.sigv4 import AuthFailure

Handler = Callable[[IdentityService, Principal, Params], XmlDict | None]

HANDLERS: dict[str, Handler] = {
    "CreateUser": handlers.create_user,
    "GetUser": handlers.get_user,
    "ListUsers": handlers.list_users,
    "DeleteUser": handlers.delete_user,
    "CreateAccessKey": handlers.create_access_key,
    "ListAccessKeys": handlers.list_access_keys,
    "DeleteAccessKey": handlers.delete_access_key,
    "UpdateAccessKey": handlers.update_access_key,
    "PutUserPolicy": handlers.put_user_policy,
    "GetUserPolicy": handlers.get_user_policy,
    "DeleteUserPolicy": handlers.delete_user_policy,
    "ListUserPolicies": handlers.list_user_policies,
}

# Every operation in botocore's IAM model (tests/e2e/test_iam_sts.py checks this list against botocore).
IAM_OPERATIONS = frozenset(
    """
    AcceptDelegationRequest AddClientIDToOpenIDConnectProvider AddRoleToInstanceProfile AddUserToGroup
    AssociateDelegationRequest AttachGroupPolicy AttachRolePolicy AttachUserPolicy ChangePassword
    CreateAccessKey CreateAccountAlias CreateDelegationRequest CreateGroup CreateInstanceProfile
    CreateLoginProfile CreateOpenIDConnectProvider CreatePolicy CreatePolicyVersion CreateRole
    CreateSAMLProvider CreateServiceLinkedRole CreateServiceSpecificCredential CreateUser
    CreateVirtualMFADevice DeactivateMFADevice DeleteAccessKey DeleteAccountAlias
    DeleteAccountPasswordPolicy DeleteGroup DeleteGroupPolicy DeleteInstanceProfile DeleteLoginProfile
    DeleteOpenIDConnectProvider DeletePolicy DeletePolicyVersion DeleteRole
    DeleteRolePermissionsBoundary DeleteRolePolicy DeleteSAMLProvider DeleteSSHPublicKey
    DeleteServerCertificate DeleteServiceLinkedRole DeleteServiceSpecificCredential
    DeleteSigningCertificate DeleteUser DeleteUserPermissionsBoundary DeleteUserPolicy
    DeleteVirtualMFADevice DetachGroupPolicy DetachRolePolicy DetachUserPolicy
    DisableOrganizationsRootCredentialsManagement DisableOrganizationsRootSessions
    DisableOutboundWebIdentityFederation EnableMFADevice EnableOrganizationsRootCredentialsManagement
    EnableOrganizationsRootSessions EnableOutboundWebIdentityFederation GenerateCredentialReport
    GenerateOrganizationsAccessReport GenerateServiceLastAccessedDetails GetAccessKeyLastUsed
    GetAccountAuthorizationDetails GetAccountPasswordPolicy GetAccountSummary
    GetContextKeysForCustomPolicy GetContextKeysForPrincipalPolicy GetCredentialReport
    GetDelegationRequest GetGroup GetGroupPolicy GetHumanReadableSummary GetInstanceProfile
    GetLoginProfile GetMFADevice GetOpenIDConnectProvider GetOrganizationsAccessReport
    GetOutboundWebIdentityFederationInfo GetPolicy GetPolicyVersion GetRole GetRolePolicy
    GetSAMLProvider GetSSHPublicKey GetServerCertificate GetServiceLastAccessedDetails
    GetServiceLastAccessedDetailsWithEntities GetServiceLinkedRoleDeletionStatus GetUser GetUserPolicy
    ListAccessKeys ListAccountAliases ListAttachedGroupPolicies ListAttachedRolePolicies
    ListAttachedUserPolicies ListDelegationRequests ListEntitiesForPolicy ListGroupPolicies ListGroups
    ListGroupsForUser ListInstanceProfileTags ListInstanceProfiles ListInstanceProfilesForRole
    ListMFADeviceTags ListMFADevices ListOpenIDConnectProviderTags ListOpenIDConnectProviders
    ListOrganizationsFeatures ListPolicies ListPoliciesGrantingServiceAccess ListPolicyTags
    ListPolicyVersions ListRolePolicies ListRoleTags ListRoles ListSAMLProviderTags ListSAMLProviders
    ListSSHPublicKeys ListServerCertificateTags ListServerCertificates ListServiceSpecificCredentials
    ListSigningCertificates ListUserPolicies ListUserTags ListUsers ListVirtualMFADevices PutGroupPolicy
    PutRolePermissionsBoundary PutRolePolicy PutUserPermissionsBoundary PutUserPolicy
    RejectDelegationRequest RemoveClientIDFromOpenIDConnectProvider RemoveRoleFromInstanceProfile
    RemoveUserFromGroup ResetServiceSpecificCredential ResyncMFADevice SendDelegationToken
    SetDefaultPolicyVersion SetSecurityTokenServicePreferences SimulateCustomPolicy
    SimulatePrincipalPolicy TagInstanceProfile TagMFADevice TagOpenIDConnectProvider TagPolicy TagRole
    TagSAMLProvider TagServerCertificate TagUser UntagInstanceProfile UntagMFADevice
    UntagOpenIDConnectProvider UntagPolicy UntagRole UntagSAMLProvider UntagServerCertificate UntagUser
    UpdateAccessKey UpdateAccountPasswordPolicy UpdateAssumeRolePolicy UpdateDelegationRequest
    UpdateGroup UpdateLoginProfile UpdateOpenIDConnectProviderThumbprint UpdateRole
    UpdateRoleDescription UpdateSAMLProvider UpdateSSHPublicKey UpdateServerCertificate
    UpdateServiceSpecificCredential UpdateSigningCertificate UpdateUser UploadSSHPublicKey
    UploadServerCertificate UploadSigningCertificate
    """.split()  # noqa: SIM905 (a word list reads better than quoted strings)
)
_IMPLEMENTED = frozenset(HANDLERS)


def handle(request: Request, principal: Principal, identity: IdentityService) -> Outcome:
    params = Params(request.form())
    rid = request.request_id
    action: str | None = None
    try:
        action = dispatch_action(params, API_VERSION, IAM_OPERATIONS, _IMPLEMENTED)
        handler = HANDLERS.get(action)
        if handler is None:
            response = unsupported_response(NAMESPACE, "IAM", action, rid)
            return Outcome(response, action, params.as_dict(), error=(UNSUPPORTED_CODE, ""))
        body = handler(identity, principal, params)
    except QueryError as error:
        return Outcome(query_error(error, rid), action, params.as_dict(), error=(error.code, error.message))
    except ServiceError as error:
        response = service_error(error, rid)
        return Outcome(response, action, params.as_dict(), error=(iam_error(error)[0], error.message))
    return Outcome(result(action, body, rid), action, params.as_dict(), body)


def auth_error(failure: AuthFailure, message: str, request: Request) -> Response:
    return auth_error_response(NAMESPACE, failure, message, request)
