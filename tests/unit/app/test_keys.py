"""Keys: minted once, stored as a digest, checked in constant time; grants per knowledge base."""

import json
import stat

import pytest
from pydantic import ValidationError

from app.auth.access import ENV_ADMIN, Access
from app.auth.keys import Grants, mint_key, parse_token, secret_matches
from app.auth.principal import ANONYMOUS, OPEN, Principal
from app.auth.store import FileKeyStore, KeyStoreUnavailableError
from chains.errors import KnowledgeBaseNotFoundError

pytestmark = pytest.mark.anyio


def test_minted_token_names_its_record_and_only_its_secret_matches():
    record, token = mint_key(Grants(name="team-a", read=["handbook"]))
    key_id, secret = parse_token(token)
    assert key_id == record.id and secret_matches(record, secret)
    assert not secret_matches(record, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert secret not in record.model_dump_json() and "secret_sha256" not in record.public()


@pytest.mark.parametrize("token", ["", "srk_", "srk_abc", "srk__secret", "Bearer srk_a_b", "sk-1"])
def test_tokens_not_shaped_like_ours_parse_to_none(token):
    assert parse_token(token) is None


@pytest.mark.parametrize(
    "grants",
    [
        {"name": "nothing"},
        {"name": "bad", "read": ["../alpha"]},
        {"name": "bad", "write": ["a"]},
        {"name": "", "read": ["alpha"]},
        {"name": "extra", "read": ["alpha"], "owner": "me"},
    ],
)
def test_grants_that_name_nothing_or_break_chromas_name_rules_are_refused(grants):
    with pytest.raises(ValidationError):
        Grants(**grants)


def test_principal_grants_name_a_knowledge_base_or_every_one():
    reader = Principal("k1", "r", read=frozenset({"alpha"}), write=frozenset({"*"}))
    assert reader.granted("read", "alpha") and not reader.granted("read", "beta")
    assert reader.granted("write", "beta")  # write does not imply read, nor the reverse
    assert ENV_ADMIN.granted("read", "x") and ENV_ADMIN.granted("write", "x")
    assert not ANONYMOUS.granted("read", "alpha") and not ANONYMOUS.is_authenticated


async def test_two_file_stores_on_one_file_see_each_others_keys_at_once(tmp_path):
    path = tmp_path / "keys.json"
    writer, reader = FileKeyStore(path), FileKeyStore(path)
    assert await reader.count() == 0
    record, token = mint_key(Grants(name="team-a", read=["alpha"]))
    await writer.add(record)
    assert (await reader.get(record.id)) == record
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token.rpartition("_")[2] not in path.read_text()
    assert await writer.remove(record.id) and not await writer.remove(record.id)
    assert await reader.get(record.id) is None and await reader.count() == 0


async def test_a_damaged_key_file_refuses_every_request_rather_than_opening_the_service(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": {"x": {"name": 3}}}))
    with pytest.raises(KeyStoreUnavailableError, match="cannot be read"):
        await Access(
            FileKeyStore(path), admin_key=None, protect_reads=False, default_kb="kb0"
        ).resolve(None)


async def test_resolve_opens_the_service_only_while_no_key_exists(tmp_path):
    store = FileKeyStore(tmp_path / "keys.json")
    access = Access(store, admin_key=None, protect_reads=False, default_kb="kb0")
    assert await access.resolve("Bearer anything") is OPEN
    record, token = mint_key(Grants(name="team-a", read=["alpha"]))
    await store.add(record)
    assert (await access.resolve(f"Bearer {token}")).key_id == record.id
    assert await access.resolve(None) is ANONYMOUS
    refused = await access.resolve("Bearer srk_nope_nope")
    assert not refused.is_authenticated and refused.refused_token
    protected = Access(
        FileKeyStore(tmp_path / "none.json"), admin_key=None, protect_reads=True, default_kb="kb0"
    )
    assert await protected.resolve(None) is ANONYMOUS  # protected reads: locked, not open


def test_check_refuses_without_a_key_hides_unreadable_and_forbids_unwritable(tmp_path):
    access = Access(
        FileKeyStore(tmp_path / "k"), admin_key=None, protect_reads=True, default_kb="kb0"
    )
    reader = Principal("k1", "r", read=frozenset({"alpha"}))
    access.check(reader, "read", "alpha")
    with pytest.raises(KnowledgeBaseNotFoundError) as hidden:
        access.check(reader, "read", "beta")
    assert str(hidden.value) == "no knowledge base is called 'beta'; GET /kbs lists them"
    with pytest.raises(KnowledgeBaseNotFoundError):
        access.check(reader, "read", "")  # the default knowledge base is checked by its name
    with pytest.raises(Exception) as forbidden:
        access.check(reader, "write", "alpha")
    assert getattr(forbidden.value, "status_code", None) == 403
    with pytest.raises(Exception) as anonymous:
        access.check(ANONYMOUS, "read", "alpha")
    assert getattr(anonymous.value, "status_code", None) == 401
