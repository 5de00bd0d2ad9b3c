"""One connection's authentication state, independent of PostgreSQL.

The server keeps one :class:`Session` per backend, in PL/Python memory that
SQL cannot reach: the key fixed at first use, the highest ``jti`` accepted,
and the last validated token with its claims.  Everything here is pure
Python so it can be unit-tested without a server.
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
        self.token: str | None = None
        self.claims: Claims | None = None
        self._keys: jwk.KeySet | None = None
        self._setting_text: str | None = None
        self._setting_claims: Claims | None = None

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
        return self._keys

    def validate(self, token: str) -> Claims:
        """Claims of ``token``: cached when it is the last validated text.

        Any other text is validated in full (signature, ``jti``, time,
        audience and issuer when configured) and
        only then becomes the session; a refusal leaves the state unchanged.
        """
        if token == self.token:
            return self.claims  # type: ignore[return-value]
        payload_bytes = jws.verify(token, self.keys())
        try:
            payload = strictjson.loads_object(payload_bytes)
        except ValueError as e:
            raise errors.unparsable(str(e)) from None
        replay = self.replay_rule()
        mark = replay.check(payload, token[: token.rindex(".")])
        claims_mod.check_time(payload)
        claims_mod.check_audience(payload, self.audience)
        claims_mod.check_issuer(payload, self.issuer)
        result = Claims(payload, verified=True)
        replay.accept(mark)
        self.token, self.claims = token, result
        return result

    def replay_rule(self):
        if self._replay is None:
            self._replay = replay_mod.rule(self.replay_mode)
        return self._replay

    def current(self, jwt: str | None, claims_setting: str | None) -> Claims | None:
        """What the reading functions see, given the two settings' values."""
        if self.jwk_text is None:
            if claims_setting != self._setting_text:
                self._setting_text = claims_setting
                self._setting_claims = claims_mod.from_setting(claims_setting)
            return self._setting_claims
        if not jwt:  # unset, or the empty value a reset placeholder holds
            return None
        return self.validate(jwt)

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
            "token": self.token,
            "payload": None if self.claims is None else self.claims.payload,
        }

    @classmethod
    def restore(cls, snap: dict[str, object]) -> "Session":
        s = cls(snap["jwk"], snap["audit_forced"], snap["audience"], snap["issuer"], snap["replay"])
        if snap["replay_state"] is not None:
            s._replay = replay_mod.rule(s.replay_mode, snap["replay_state"])
        if snap["token"] is not None:
            s.token, s.claims = snap["token"], Claims(snap["payload"], verified=True)
        return s
