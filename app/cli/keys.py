"""``streaming-rag keys create|list|revoke``: scoped API keys, for an admin.

In process they write the key store the settings name (``keys.json`` in the data
directory, or Redis with ``RAG_REDIS_URL``), which every running worker reads on its
next request; with ``--url`` they ask a running server's ``/keys`` routes, sending
``RAG_API_KEY`` (an admin key) as the bearer key. ``create`` prints the new key's
secret once: it is stored only as a digest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from app.cli._bearer import bearer_headers
from app.cli._console import console
from app.settings import Settings

if TYPE_CHECKING:
    from app.auth.keys import Grants
    from app.auth.store import KeyStore


def cmd_keys(args: argparse.Namespace) -> int:
    """Run one of ``create``, ``list``, ``revoke``; 1 for an unknown key, 2 for bad grants."""
    from app.auth.keys import Grants

    settings = Settings()
    try:
        if args.action == "create":
            grants = Grants(name=args.name, read=args.read, write=args.write, admin=args.admin)
            created = (
                _remote(args, settings) if args.url else asyncio.run(_create(settings, grants))
            )
            _print_created(created)
        elif args.action == "list":
            listing = _remote(args, settings) if args.url else asyncio.run(_list(settings))
            _print_list(listing["keys"])
        else:
            if args.url:
                _remote(args, settings)
            elif not asyncio.run(_revoke(settings, args.id)):
                raise LookupError(f"no key has the id {args.id!r}; streaming-rag keys list")
            console.print(f"[yellow]revoked[/yellow] {escape(args.id)}")
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            console.print(f"[red]error:[/red] {escape(error['msg'].removeprefix('Value error, '))}")
        return 2
    except LookupError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 1
    return 0


async def _create(settings: Settings, grants: Grants) -> dict[str, Any]:
    from app.auth.store import issue_key

    async with contextlib.aclosing(_store(settings)) as store:
        return await issue_key(store, grants)


async def _list(settings: Settings) -> dict[str, Any]:
    async with contextlib.aclosing(_store(settings)) as store:
        return {"keys": [record.public() for record in await store.all()]}


async def _revoke(settings: Settings, key_id: str) -> bool:
    async with contextlib.aclosing(_store(settings)) as store:
        return await store.remove(key_id)


def _store(settings: Settings) -> KeyStore:
    from app.auth.store import open_key_store

    return open_key_store(settings.key_file, settings.redis_url)


def _remote(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """The same action through a running server's ``/keys`` routes."""
    import httpx

    headers = bearer_headers(settings)
    with httpx.Client(base_url=args.url, headers=headers, timeout=30) as client:
        if args.action == "create":
            body = {"name": args.name, "read": args.read, "write": args.write, "admin": args.admin}
            response = client.post("/keys", json=body)
        elif args.action == "list":
            response = client.get("/keys")
        else:
            response = client.delete(f"/keys/{args.id}")
    if response.status_code == 404:
        raise LookupError(response.json()["detail"])
    if response.status_code >= 400:
        raise SystemExit(f"error: HTTP {response.status_code}: {response.text}")
    return response.json() if response.content else {}


def _print_created(created: dict[str, Any]) -> None:
    console.print(f"[green]created[/green] key {created['id']} ({escape(created['name'])})")
    console.print(f"  {_grants_text(created)}")
    console.print("  the secret is shown this once; keep it now:")
    print(created["key"])  # on stdout alone, for `KEY=$(streaming-rag keys create ...)`


def _print_list(keys: list[dict[str, Any]]) -> None:
    table = Table(title=f"{len(keys)} keys")
    for column in ("id", "name", "grants", "created"):
        table.add_column(column, overflow="fold")
    for key in keys:
        created = datetime.datetime.fromtimestamp(key["created_at"], datetime.UTC)
        table.add_row(
            key["id"], escape(key["name"]), escape(_grants_text(key)), f"{created:%Y-%m-%d %H:%M}"
        )
    console.print(table)


def _grants_text(key: dict[str, Any]) -> str:
    if key["admin"]:
        return "admin"
    parts = [f"read {', '.join(key['read'])}" if key["read"] else ""]
    parts.append(f"write {', '.join(key['write'])}" if key["write"] else "")
    return "; ".join(part for part in parts if part)


def add_keys_parser(commands: Any) -> None:
    """The ``keys`` sub-command and its three actions."""
    keys = commands.add_parser("keys", help="create, list or revoke scoped API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new key; its secret is printed once")
    create.add_argument("--name", required=True, help="who holds it, e.g. team-a")
    for grant in ("read", "write"):
        create.add_argument(
            f"--{grant}",
            action="append",
            default=[],
            metavar="KB",
            help=f"{grant} this knowledge base (repeat for several; * for all)",
        )
    create.add_argument("--admin", action="store_true", help="manage knowledge bases and keys")
    listing = actions.add_parser("list", help="every key and its grants (never a secret)")
    revoke = actions.add_parser("revoke", help="revoke a key: refused from the next request on")
    revoke.add_argument("id")
    for action in (create, listing, revoke):
        action.add_argument("--url", help="a running server's /keys (sends RAG_API_KEY)")
    keys.set_defaults(func=cmd_keys)
