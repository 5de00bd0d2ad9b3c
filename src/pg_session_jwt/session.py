"""One connection's authentication state, independent of PostgreSQL.

The server keeps one :class:`Session` per backend, in PL/Python memory that
SQL cannot reach: the keys fixed at first use, the replay state (session
level and transaction-local), and the validated tokens with their claims.
Everything here is pure Python so it can be unit-tested without a server.
"""

from __future__ import annotations

from . import claims as claims_mod
from . import errors, jwk, jws, strictjson
from . import replay as replay_mod
from .claims import Claims


class Session:
    """Validates tokens for one connection and caches the last one."""

    def __init__(
        self,
        jwk_text: str | None,
        audit_forced: bool = False,
        audience: str | None = None,
        issuer: str | None = None,
        replay: str | None = None,
    ):
        self.jwk_text = jwk_text or None
        self.audit_forced = audit_forced
        self.audience = audience or None
        self.issuer = issuer or None
        self.replay_mode = replay or "jti"
        self._replay: object = None
        self._local_rule: object = None
        # Tokens validated by jwt_session_init(jwt, true), oldest first:
        # token -> (claims, subject, order) as SubjectOrder saw them.
        self.local: dict[str, tuple] = {}
        self.token: str | None = None
        self.claims: Claims | None = None
        self._keys: jwk.KeySet | None = None
        self._setting_text: str | None = None
        self._setting_claims: Claims | None = None
        # Given the key set once, when it is parsed, if some of its keys
        # cannot be used (the server raises a WARNING for each).
        self.on_skipped = None

    @property
    def fallback(self) -> bool:
        """No JWK at connection start: read PostgREST's ``request.jwt.claims``."""
        return self.jwk_text is None

    def keys(self) -> jwk.KeySet:
        """The configured keys, parsed on first need (errors are not cached)."""
        if self._keys is None:
            if self.jwk_text is None:
                raise errors.missing_jwk()
            self._keys = jwk.parse(self.jwk_text)
            if self._keys.skipped and self.on_skipped is not None:
                self.on_skipped(self._keys)
        return self._keys

    def validate(self, token: str) -> Claims:
        """Claims of ``token``: cached when it is the last validated text.

        Any other text is validated in full (signature, ``jti``, time,
        audience and issuer when configured) and
        only then becomes the session; a refusal leaves the state unchanged.
        """
        if token == self.token:
            return self.claims  # type: ignore[return-value]
        payload = self._verified_payload(token)
        replay = self.replay_rule()
        mark = replay.check(payload, token)
        result = self._checked_claims(payload)
        replay.accept(mark)
        self.token, self.claims = token, result
        return result

    LOCAL_CACHE = 256

    def validate_local(self, token: str) -> Claims:
        """Claims of a token for one transaction (``jwt_session_init(jwt, true)``).

        Leaves the session-level token and its replay state alone, so after
        the transaction the connection is what it was before.  Validated
        local tokens are remembered until they expire, for the reads of the
        transaction and for the same token's next transaction.
        """
        hit = self._local_hit(token)
        if hit is not None:
            return hit
        payload = self._verified_payload(token)
        rule = self.local_rule()
        subject, order, exp = mark = rule.check(payload)
        result = self._checked_claims(payload)
        rule.accept(mark)
        # The subject's older tokens are refused from now on: forget them.
        self.local = {t: e for t, e in self.local.items() if e[1] != subject or e[2] >= order}
        self.local[token] = (result, subject, order)
        if len(self.local) > self.LOCAL_CACHE:
            del self.local[next(iter(self.local))]
        return result

    def _local_hit(self, token: str) -> Claims | None:
        entry = self.local.get(token)
        if entry is None:
            return None
        if entry[0].expired():
            del self.local[token]
            return None
        return entry[0]

    def _verified_payload(self, token: str) -> dict:
        payload_bytes = jws.verify(token, self.keys())
        try:
            return strictjson.loads_object(payload_bytes)
        except ValueError as e:
            raise errors.unparsable(str(e)) from None

    def _checked_claims(self, payload: dict) -> Claims:
        claims_mod.check_time(payload)
        if self.audience:
            claims_mod.check_audience(payload, self.audience)
        if self.issuer:
            claims_mod.check_issuer(payload, self.issuer)
        return Claims(payload, verified=True)

    def replay_rule(self):
        if self._replay is None:
            self._replay = replay_mod.rule(self.replay_mode)
        return self._replay

    def local_rule(self) -> replay_mod.SubjectOrder:
        if self._local_rule is None:
            self._local_rule = replay_mod.SubjectOrder(self.replay_mode)
        return self._local_rule

    def current(self, jwt: str | None, claims_setting: str | None) -> Claims | None:
        """What the reading functions see, given the two settings' values."""
        if self.jwk_text is None:
            if claims_setting != self._setting_text:
                self._setting_text = claims_setting
                self._setting_claims = claims_mod.from_setting(claims_setting)
            return self._setting_claims
        if not jwt:  # unset, or the empty value a reset placeholder holds
            return None
        if jwt == self.token:
            return self.claims
        return self._local_hit(jwt) or self.validate(jwt)

    def audit_line(self, found: Claims | None) -> str:
        if not self.fallback:
            return f"pg_session_jwt: JWT accepted, {found.audit_fields()}"  # type: ignore[union-attr]
        if found is None:
            return "pg_session_jwt: no JWT claims in request.jwt.claims"
        return f"pg_session_jwt: JWT claims from request.jwt.claims, {found.audit_fields()}"

    def snapshot(self) -> dict[str, object]:
        """Plain-data state, handed to a newer version after ALTER EXTENSION UPDATE."""
        return {
            "jwk": self.jwk_text,
            "audit_forced": self.audit_forced,
            "audience": self.audience,
            "issuer": self.issuer,
            "replay": self.replay_mode,
            "replay_state": None if self._replay is None else self._replay.state(),
            "local_state": None if self._local_rule is None else self._local_rule.state(),
            "token": self.token,
            "payload": None if self.claims is None else self.claims.payload,
        }

    @classmethod
    def restore(cls, snap: dict[str, object]) -> "Session":
        s = cls(snap["jwk"], snap["audit_forced"], snap["audience"], snap["issuer"], snap["replay"])
        if snap["replay_state"] is not None:
            s._replay = replay_mod.rule(s.replay_mode, snap["replay_state"])
        if snap["local_state"] is not None:
            s._local_rule = replay_mod.SubjectOrder(s.replay_mode, snap["local_state"])
        if snap["token"] is not None:
            s.token, s.claims = snap["token"], Claims(snap["payload"], verified=True)
        return s
