"""What every domain operation knows about the request it serves."""

from dataclasses import dataclass

from keyhold.domain.identity.model import Principal


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal
    region: str  # the region the request was signed for
    request_id: str
    source_ip: str = ""
    user_agent: str = ""
    secure: bool = False
    via_service: str | None = None  # "s3.us-east-1.amazonaws.com" when a Keyhold service calls KMS for the caller
    via_service_principal: str | None = None  # "s3.amazonaws.com" when that service acts as its own principal

    @property
    def account_id(self) -> str:
        return self.principal.account_id
