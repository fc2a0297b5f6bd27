"""Who is calling: accounts, IAM users and their access keys."""

from dataclasses import dataclass

DEFAULT_ACCOUNT_ID = "000000000000"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``user_name`` is None for the account's root identity."""

    account_id: str
    arn: str  # arn:aws:iam::<account>:root or arn:aws:iam::<account>:user<path><name>
    user_id: str  # the account id for root, the IAM user id (AIDA...) for a user
    user_name: str | None
    access_key_id: str

    @property
    def is_root(self) -> bool:
        return self.user_name is None


@dataclass(frozen=True, slots=True)
class Credential:
    """An access key as the signature verifier needs it: the secret and whom it belongs to."""

    secret_access_key: str
    principal: Principal
    active: bool
