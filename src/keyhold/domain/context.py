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

    @property
    def account_id(self) -> str:
        return self.principal.account_id
