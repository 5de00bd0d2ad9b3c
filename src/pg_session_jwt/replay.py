"""Replay protection: which tokens a connection may still accept.

Both rules answer the same threat: once a connection has moved on from a
token (a newer login, or a rollback that restored an older
``pg_session_jwt.jwt``), that token must never become the session again.

* ``jti`` (the default, the reference's rule): every newly accepted token
  carries an integer ``jti`` above the last one accepted.
* ``once``: for issuers whose tokens carry no integer ``jti`` (Auth0, Clerk,
  Cognito, Firebase, Supabase): a token is accepted at most once per
  connection.  Tokens are told apart by their signed part, so re-encoding a
  malleable (ECDSA) signature does not make a new token.  Each remembered
  token is forgotten once it has expired, so ``exp`` is required.
"""

from __future__ import annotations

import time

from . import claims, errors


class JtiOrder:
    name = "jti"

    def __init__(self, state: object = 0):
        self.last = state

    def check(self, payload: dict, signed: str) -> int:
        return claims.check_jti(payload, self.last)

    def accept(self, mark: int) -> None:
        self.last = mark

    def state(self) -> object:
        return self.last


class AcceptOnce:
    name = "once"
    MAX_REMEMBERED = 10_000

    def __init__(self, state: object = None):
        self.seen: dict[str, int] = dict(state or {})  # sha256 hex of the signed part -> exp

    def check(self, payload: dict, signed: str):
        import hashlib  # only this rule needs it (it loads OpenSSL)

        exp = claims.as_i64(payload.get("exp"))
        if exp is None:
            raise errors.exp_required()
        digest = hashlib.sha256(signed.encode("utf-8", "surrogatepass")).hexdigest()
        if digest in self.seen:
            raise errors.token_reused()
        now = time.time()
        self.seen = {d: e for d, e in self.seen.items() if e + claims.LEEWAY >= now}
        if len(self.seen) >= self.MAX_REMEMBERED:
            raise errors.too_large("tokens remembered by this connection", len(self.seen), self.MAX_REMEMBERED, "tokens")
        return digest, exp

    def accept(self, mark) -> None:
        digest, exp = mark
        self.seen[digest] = exp

    def state(self) -> object:
        return dict(self.seen)


MODES = {rule.name: rule for rule in (JtiOrder, AcceptOnce)}


def rule(mode: str, state: object = None):
    """The rule named by ``pg_session_jwt.replay`` (default ``jti``)."""
    make = MODES.get(mode)
    if make is None:
        raise errors.bad_replay_mode(mode)
    return make() if state is None else make(state)
