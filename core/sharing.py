"""Read-only share links: a link that opens one conversation and its turns' traces, and nothing else the owner
has, without the power to continue it. A link is `?share=<token>`, the token being the conversation's id, a
grant's id and an HMAC of both under the app's share secret (`Settings.share_secret`): a token cannot be made for
another conversation without the secret, and a grant exists only while its tag `app.share.<grant id>` is on the
conversation's run, so its owner revokes a link by deleting it. Nothing in a token names its owner."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from . import contract, store
from .conversations import StoreUnavailable, is_valid_run_id

MIN_SECRET_BYTES = 16
MAX_GRANTS = 20  # per conversation: a list its owner can read, not a way to fill the run's tags
_GRANT = re.compile(r"[A-Za-z0-9_-]{16}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")


class ShareRefused(Exception):
    """A link that does not open: said in one sentence, the same for a forged and a revoked token where telling
    them apart would help someone guessing."""


@dataclass(frozen=True)
class Grant:
    grant_id: str
    conversation_id: str
    created_ms: int
    token: str


def _signature(secret: str, conversation_id: str, grant_id: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"share\n{conversation_id}\n{grant_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def usable_secret(secret: str) -> bool:
    return len(secret.encode("utf-8")) >= MIN_SECRET_BYTES


class ShareLinks:
    """Grants of one store's conversations (MLflow run tags), signed with the app's share secret."""

    def __init__(self, client: MlflowClient, secret: str):
        if not usable_secret(secret):
            raise ValueError(f"A share secret needs at least {MIN_SECRET_BYTES} bytes.")
        self.client, self._secret = client, secret

    def _token(self, conversation_id: str, grant_id: str) -> str:
        return f"{conversation_id}.{grant_id}.{_signature(self._secret, conversation_id, grant_id)}"

    def grants(self, conversation_id: str) -> list[Grant]:
        """The conversation's live links, oldest first."""
        tags = self.client.get_run(conversation_id).data.tags
        found = [
            Grant(
                key[len(contract.RunTag.SHARE_PREFIX) :],
                conversation_id,
                int(value or 0),
                self._token(conversation_id, key[len(contract.RunTag.SHARE_PREFIX) :]),
            )
            for key, value in tags.items()
            if key.startswith(contract.RunTag.SHARE_PREFIX) and _GRANT.fullmatch(key[len(contract.RunTag.SHARE_PREFIX) :]) and str(value).isdigit()
        ]
        return sorted(found, key=lambda g: g.created_ms)

    def create(self, conversation_id: str, now_ms: int | None = None) -> Grant:
        if len(self.grants(conversation_id)) >= MAX_GRANTS:
            raise ShareRefused(f"This conversation already has {MAX_GRANTS} share links: revoke one first.")
        grant_id = secrets.token_urlsafe(12)
        created = int(time.time() * 1000) if now_ms is None else now_ms
        self.client.set_tag(conversation_id, contract.RunTag.SHARE_PREFIX + grant_id, str(created))
        return Grant(grant_id, conversation_id, created, self._token(conversation_id, grant_id))

    def revoke(self, conversation_id: str, grant_id: str) -> None:
        if _GRANT.fullmatch(grant_id):
            self.client.delete_tag(conversation_id, contract.RunTag.SHARE_PREFIX + grant_id)

    def opened(self, token: str) -> str:
        """The conversation a token grants, or ShareRefused."""
        parts = (token or "").strip().split(".")
        refused = ShareRefused("This share link does not open anything: it was revoked, or it is not a link this app made.")
        if len(parts) != 3 or not (is_valid_run_id(parts[0]) and _GRANT.fullmatch(parts[1]) and _SIGNATURE.fullmatch(parts[2])):
            raise refused
        conversation_id, grant_id, signature = parts
        if not hmac.compare_digest(signature, _signature(self._secret, conversation_id, grant_id)):
            raise refused
        try:
            run = self.client.get_run(conversation_id)
        except MlflowException as exc:
            if store.is_not_found(exc):  # the conversation was deleted: the link opens nothing
                raise refused from exc
            raise StoreUnavailable("The MLflow store could not be read to open this link; try again in a moment.") from exc
        if run.info.lifecycle_stage == "deleted" or contract.RunTag.SHARE_PREFIX + grant_id not in run.data.tags:
            raise refused
        return conversation_id
