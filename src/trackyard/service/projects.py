"""Creating a project with everything a newcomer needs to send data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from trackyard.auth.secrets import hash_secret, new_secret, new_token, new_username, secret_hash
from trackyard.storage.base import Store


@dataclass(frozen=True)
class NewServiceAccount:
    username: str
    secret: str


@dataclass(frozen=True)
class NewProject:
    """A project's credentials in clear text: shown once, then only hashes remain."""

    project_id: int
    name: str
    token: str
    api_secret: str
    service_account: NewServiceAccount
    identity_mode: str = "simplified"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def create_project(store: Store, name: str, identity_mode: str = "simplified") -> NewProject:
    api_secret = new_secret()
    project = await store.create_project(name, new_token(), secret_hash(api_secret))
    if identity_mode != project.identity_mode:
        await store.set_identity_mode(project.id, identity_mode)
    account = await create_service_account(store, [project.id], new_username(name))
    return NewProject(project.id, project.name, project.token, api_secret, account, identity_mode)


async def create_service_account(
    store: Store, project_ids: list[int], username: str
) -> NewServiceAccount:
    secret = new_secret()
    await store.create_service_account(username, hash_secret(secret), project_ids)
    return NewServiceAccount(username, secret)


async def rotate_service_account_secret(store: Store, username: str) -> NewServiceAccount:
    """A new secret for the account; the old one stops working when this returns."""
    secret = new_secret()
    await store.replace_service_account_secret(username, hash_secret(secret))
    return NewServiceAccount(username, secret)


async def rotate_api_secret(store: Store, project_id: int) -> str:
    """A new API secret for the project; the old one stops working when this returns."""
    api_secret = new_secret()
    await store.replace_api_secret(project_id, secret_hash(api_secret))
    return api_secret
