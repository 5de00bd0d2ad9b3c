"""RSA, EC and Ed25519 keys, key sets, audience and issuer, end to end on a real server.

Every key travels in the startup packet (``connect(jwk=...)``), every token is
signed for real by ``jose_keys``, and every refusal is checked for its exact
SQLSTATE and message.  Also: ``pg_session_jwt.audience``/``issuer`` follow the
JWK's startup-only rule, and a backend with only an Ed25519 key never imports
``cryptography``.

(Named ``test_server_algorithms``: pytest's prepend import mode needs unique
basenames, and ``tests/unit/test_algorithms.py`` exists.)
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from helpers import scalar, sql_error
from jose_keys import ALL_ALGS, issuer, key_set, part, pem

from pg_session_jwt import b64url

BAD_SIGNATURE = ("23514", "invalid JWT signature")
DISALLOWED_ALG = ("23514", "JWT algorithm does not fit the key")
MISSING_ALG = ("23514", "JWT header must name its 'alg' for RSA and EC keys")
SYMMETRIC = ("42804", "pg_session_jwt.jwk must not hold a symmetric (oct) key")
WRONG_AUD = ("23514", "JWT 'aud' (Audience) does not include pg_session_jwt.audience")
WRONG_ISS = ("23514", "JWT 'iss' (Issuer) is not pg_session_jwt.issuer")
AUD, ISS = "https://api.example", "https://issuer.example"


def login(conn, token: str) -> str:
    """auth.jwt_session_init(token), then the session's user as auth.user_id() sees it."""
    conn.execute("SELECT auth.jwt_session_init(%s)", [token])
    return scalar(conn, "SELECT auth.user_id()")


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- every algorithm ------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_every_algorithm_accepted(connect, alg):
    signer = issuer(alg)
    conn = connect(jwk=signer.jwk)
    assert login(conn, signer.token("alice")) == "alice"
    # A reading function validates a token put straight into the setting.
    conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [signer.token("bob")])
    assert scalar(conn, "SELECT auth.user_id()") == "bob"


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_every_algorithm_refused_with_another_key_of_its_kind(connect, alg):
    conn = connect(jwk=issuer(alg, "other").jwk)
    with sql_error(*BAD_SIGNATURE):
        login(conn, issuer(alg).token("mallory"))
    assert scalar(conn, "SELECT auth.user_id()") is None


# --- key sets -------------------------------------------------------------------------------


@pytest.fixture(params=["EdDSA", "RS256"])
def rotation(request):
    """(old, new): two keys of one kind, published together under kids 'k1' and 'k2'."""
    return issuer(request.param, "old", kid="k1"), issuer(request.param, "new", kid="k2")


def test_rotation_both_keys_accepted_by_kid(connect, rotation):
    old, new = rotation
    conn = connect(jwk=key_set(old, new))
    assert login(conn, old.token("alice")) == "alice"
    assert login(conn, new.token("bob")) == "bob"


def test_rotation_new_key_claiming_old_kid_refused(connect, rotation):
    old, new = rotation
    conn = connect(jwk=key_set(old, new))
    with sql_error(*BAD_SIGNATURE):
        login(conn, new.token("mallory", header=dict(new.default_header(), kid=old.kid)))


def test_rotation_unknown_kid_refused_naming_it(connect, rotation):
    old, new = rotation
    conn = connect(jwk=key_set(old, new))
    with sql_error("23514", "no key in pg_session_jwt.jwk has the JWT's kid 'k3'", "kid='k3'"):
        login(conn, new.token(header=dict(new.default_header(), kid="k3")))


def test_single_key_with_kid_accepts_the_reference_header(connect):
    """The reference's tokens carry {"kid":1}; one configured key is used whatever its kid."""
    signer = issuer("EdDSA", kid="a")
    conn = connect(jwk=signer.jwk)
    assert login(conn, signer.token("alice", header={"kid": 1})) == "alice"


def test_mixed_set_without_kid_picks_by_alg(connect):
    ec_signer, rsa_signer = issuer("ES256"), issuer("RS256")
    conn = connect(jwk=key_set(ec_signer, rsa_signer))
    assert login(conn, ec_signer.token("alice")) == "alice"
    assert login(conn, rsa_signer.token("bob")) == "bob"
    with sql_error(*BAD_SIGNATURE):
        login(conn, issuer("ES256", "other").token("mallory"))
    with sql_error(*DISALLOWED_ALG, "alg='ES384'"):
        login(conn, issuer("ES384").token("mallory"))


# --- algorithm confusion -------------------------------------------------------------------------


def hmac_token(alg: str, secret: bytes) -> str:
    signing_input = part({"alg": alg, "typ": "JWT"}) + "." + part({"jti": 1, "sub": "mallory"})
    mac = hmac.new(secret, signing_input.encode(), getattr(hashlib, "sha" + alg[2:])).digest()
    return signing_input + "." + b64url.encode(mac)


@pytest.mark.parametrize("key_alg", ["RS256", "ES256"])
@pytest.mark.parametrize("secret", ["pem", "jwk-json", "jwk-setting"])
def test_hmac_with_the_public_key_as_secret_refused(connect, key_alg, secret):
    target = issuer(key_alg)
    secrets = {
        "pem": pem(target.key),
        "jwk-json": json.dumps(target.jwk).encode(),
        "jwk-setting": json.dumps(target.jwk, separators=(",", ":")).encode(),  # what SHOW returns
    }
    conn = connect(jwk=target.jwk)
    with sql_error(*DISALLOWED_ALG, "alg='HS256'"):
        login(conn, hmac_token("HS256", secrets[secret]))


@pytest.mark.parametrize(
    "token_alg, key_alg", [("RS256", "ES256"), ("ES256", "RS256"), ("EdDSA", "PS256"), ("ES384", "ES256")]
)
def test_alg_of_another_key_type_or_curve_refused(connect, token_alg, key_alg):
    conn = connect(jwk=issuer(key_alg).jwk)
    with sql_error(*DISALLOWED_ALG, f"alg={token_alg!r}"):
        login(conn, issuer(token_alg).token("mallory"))


@pytest.mark.parametrize("key_alg", ["RS256", "ES256", "EdDSA"])
def test_alg_none_refused(connect, key_alg):
    conn = connect(jwk=issuer(key_alg).jwk)
    with sql_error(*DISALLOWED_ALG, "alg='none'"):
        login(conn, part({"alg": "none"}) + "." + part({"jti": 1, "sub": "mallory"}) + ".")


@pytest.mark.parametrize("key_alg", ["RS256", "ES512"])
def test_missing_alg_refused_for_rsa_and_ec(connect, key_alg):
    signer = issuer(key_alg)
    conn = connect(jwk=signer.jwk)
    with sql_error(*MISSING_ALG):
        login(conn, signer.token(header={"kid": 1}))


def test_key_alg_member_restricts_the_token_alg(connect):
    signer = issuer("RS256")
    conn = connect(jwk=dict(signer.jwk, alg="RS256"))
    with sql_error(*DISALLOWED_ALG, "alg='PS256'"):
        login(conn, signer.token("mallory", header={"alg": "PS256"}))
    assert login(conn, signer.token("alice")) == "alice"


# --- keys refused at load ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "jwk",
    [{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}, {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}],
    ids=["single", "in-set"],
)
@pytest.mark.parametrize("call", ["SELECT auth.init()", "SELECT auth.jwt_session_init('a.b.c')"])
def test_symmetric_key_refused(connect, jwk, call):
    conn = connect(jwk=jwk)
    with sql_error(*SYMMETRIC) as info:
        conn.execute(call)
    assert info.value.diag.message_detail.startswith(
        "every session can read pg_session_jwt.jwk, so a shared secret there would let anyone mint tokens"
    )


def test_weak_rsa_key_refused_at_init(connect):
    weak = dict(issuer("RS256").jwk, e="BAA")  # e = 1024: even
    conn = connect(jwk=weak)
    with sql_error("42804", "pg_session_jwt.jwk holds an invalid RSA key", "'e' must be an odd exponent of at least 3"):
        conn.execute("SELECT auth.init()")


# --- audience and issuer ---------------------------------------------------------------------------


@pytest.fixture
def aud_signer():
    return issuer("ES256")


@pytest.mark.parametrize("aud", [AUD, ["other", AUD]], ids=["string", "array"])
def test_audience_accepted(connect, aud_signer, aud):
    conn = connect(jwk=aud_signer.jwk, audience=AUD)
    assert login(conn, aud_signer.token("alice", aud=aud)) == "alice"


@pytest.mark.parametrize(
    "claims, detail",
    [({}, f"aud=None, expected {AUD!r}"), ({"aud": "other"}, f"aud='other', expected {AUD!r}"),
     ({"aud": [1, "x"]}, f"aud=[1, 'x'], expected {AUD!r}")],
    ids=["missing", "wrong", "array"],
)
def test_audience_refused(connect, aud_signer, claims, detail):
    conn = connect(jwk=aud_signer.jwk, audience=AUD)
    with sql_error(*WRONG_AUD, detail):
        login(conn, aud_signer.token("mallory", **claims))
    assert scalar(conn, "SELECT auth.user_id()") is None


def test_issuer_accepted_and_refused(connect, aud_signer):
    conn = connect(jwk=aud_signer.jwk, issuer=ISS)
    with sql_error(*WRONG_ISS, f"iss='https://evil.example', expected {ISS!r}"):
        login(conn, aud_signer.token("mallory", iss="https://evil.example"))
    with sql_error(*WRONG_ISS, f"iss=None, expected {ISS!r}"):
        login(conn, aud_signer.token("mallory"))
    assert login(conn, aud_signer.token("alice", iss=ISS)) == "alice"


def test_unset_audience_and_issuer_not_checked(connect, aud_signer):
    conn = connect(jwk=aud_signer.jwk)
    assert login(conn, aud_signer.token("alice", aud="anything", iss="anyone")) == "alice"


def overrides(name: str, value: str):
    """Statements that set ``pg_session_jwt.<name>`` after connecting, one way each."""
    quoted = literal(value)
    return {
        "SET": [f"SET pg_session_jwt.{name} = {quoted}"],
        "set_config": [f"SELECT set_config('pg_session_jwt.{name}', {quoted}, false)"],
        "SET LOCAL": ["BEGIN", f"SET LOCAL pg_session_jwt.{name} = {quoted}"],
    }


METHODS = list(overrides("audience", "x"))


def after_override(conn, name: str, value: str, method: str, first_use: str, token: str) -> str:
    """Set ``name`` to ``value`` after connecting (before or after the first auth call), then log in."""
    if first_use == "before":
        conn.execute("SELECT auth.init()")
    for stmt in overrides(name, value)[method]:
        conn.execute(stmt)
    assert scalar(conn, f"SELECT current_setting('pg_session_jwt.{name}')") == value  # the override is live
    try:
        return login(conn, token)
    finally:
        if method == "SET LOCAL":
            conn.execute("ROLLBACK")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("first_use", ["before", "after"])
@pytest.mark.parametrize("name", ["audience", "issuer"])
def test_late_setting_does_not_add_a_check(connect, aud_signer, method, first_use, name):
    conn = connect(jwk=aud_signer.jwk)
    assert after_override(conn, name, "required-later", method, first_use, aud_signer.token("alice")) == "alice"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("first_use", ["before", "after"])
@pytest.mark.parametrize("name, claim, error", [("audience", "aud", WRONG_AUD), ("issuer", "iss", WRONG_ISS)])
def test_late_setting_does_not_change_the_check(connect, aud_signer, method, first_use, name, claim, error):
    conn = connect(jwk=aud_signer.jwk, **{name: "startup-value"})
    with sql_error(*error):
        after_override(conn, name, "evil", method, first_use, aud_signer.token("mallory", **{claim: "evil"}))
    assert login(conn, aud_signer.token("alice", **{claim: "startup-value"})) == "alice"


@pytest.mark.parametrize("name, claim, error", [("audience", "aud", WRONG_AUD), ("issuer", "iss", WRONG_ISS)])
def test_setting_from_alter_role(cluster, connect, aud_signer, name, claim, error):
    with cluster.connect() as su:
        su.execute(f"ALTER ROLE app SET pg_session_jwt.{name} = {literal(AUD)}")
        try:
            conn = connect(jwk=aud_signer.jwk)
            with sql_error(*error):
                login(conn, aud_signer.token("mallory"))
            assert login(conn, aud_signer.token("alice", **{claim: AUD})) == "alice"
        finally:
            su.execute(f"ALTER ROLE app RESET pg_session_jwt.{name}")
    assert login(connect(jwk=aud_signer.jwk), aud_signer.token("bob")) == "bob"


# --- cryptography is imported only for RSA/EC keys -------------------------------------------------


@pytest.fixture(scope="module")
def py_modules(cluster):
    """public.py_modules(): the backend's sys.modules, callable by app."""
    with cluster.connect(dbname="app") as su:
        su.execute(
            "CREATE OR REPLACE FUNCTION public.py_modules() RETURNS text[] LANGUAGE plpython3u"
            " AS $$ import sys; return sorted(sys.modules) $$"
        )
        su.execute("GRANT EXECUTE ON FUNCTION public.py_modules() TO app")
    yield lambda conn: scalar(conn, "SELECT public.py_modules()")
    with cluster.connect(dbname="app") as su:
        su.execute("DROP FUNCTION public.py_modules()")


def crypto_modules(conn, py_modules):
    return [m for m in py_modules(conn) if m.startswith("cryptography")]


def test_ed25519_connection_never_imports_cryptography(connect, py_modules):
    signers = issuer("EdDSA", kid="a"), issuer("EdDSA", "other", kid="b")
    conn = connect(jwk=key_set(*signers))
    assert login(conn, signers[0].token("alice")) == "alice"
    assert scalar(conn, "SELECT auth.session()->>'sub'") == "alice"
    assert any(m.endswith(".jwk") for m in py_modules(conn))  # the extension's code is loaded
    assert crypto_modules(conn, py_modules) == []


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_rsa_or_ec_connection_imports_cryptography(connect, py_modules, alg):
    conn = connect(jwk=issuer(alg).jwk)
    assert crypto_modules(conn, py_modules) == []  # nothing before the key is needed
    conn.execute("SELECT auth.init()")
    assert "cryptography" in crypto_modules(conn, py_modules)
