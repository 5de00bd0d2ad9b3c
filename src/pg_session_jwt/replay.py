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

    def check(self, payload: dict, token: str) -> int:
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

    def check(self, payload: dict, token: str):
        import hashlib  # only this rule needs it (it loads OpenSSL)

        exp = claims.as_i64(payload.get("exp"))
        if exp is None:
            raise errors.exp_required()
        signed = token[: token.rindex(".")]  # the signature's encoding may vary; what it signs may not
        digest = hashlib.sha256(signed.encode("utf-8", "surrogatepass")).hexdigest()
        if digest in self.seen:
            raise errors.token_reused()
        if len(self.seen) >= self.MAX_REMEMBERED:  # forget expired tokens only when full: O(1) per login
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


class SubjectOrder:
    """Transaction-local sessions: tokens of many users, in any order.

    Behind a transaction pooler one server connection serves many users, and
    the same token legitimately returns in many transactions, so neither a
    connection-wide counter nor accept-once can work.  What still holds: once
    a subject (``iss`` + ``sub``) has used a newer token here, its older ones
    are refused here.  Tokens are ordered by their integer ``jti`` (replay
    mode ``jti``) or ``iat`` (mode ``once``, whose issuers have no integer
    jti).  A connection remembers its most recently active subjects, at most
    ``MAX_SUBJECTS``: when full it forgets expired ones, then the least
    recently active, so a large user base never locks users out.
    """

    MAX_SUBJECTS = 10_000

    def __init__(self, mode: str, state: object = None):
        if mode not in MODES:
            raise errors.bad_replay_mode(mode)
        self.claim = "jti" if mode == "jti" else "iat"
        self.newest: dict[str, list] = dict(state or {})  # subject -> [order, exp or None]

    def check(self, payload: dict):
        order = claims.as_i64(payload.get(self.claim))
        if order is None:
            raise errors.bad_jti() if self.claim == "jti" else errors.iat_required()
        subject = self.subject(payload)
        newest = self.newest.get(subject)
        if newest is not None and order < newest[0]:
            raise errors.older_token(self.claim, order, newest[0])
        return subject, order, claims.as_i64(payload.get("exp"))

    @staticmethod
    def subject(payload: dict) -> str:
        return f"{payload.get('iss')!r} {payload.get('sub')!r}"

    def accept(self, mark) -> None:
        subject, order, exp = mark
        newest = self.newest.pop(subject, None)  # re-inserted last: dict order is recency
        if newest is not None and order < newest[0]:
            order, exp = newest
        elif newest is None and len(self.newest) >= self.MAX_SUBJECTS:
            self._make_room()
        self.newest[subject] = [order, exp]

    def _make_room(self) -> None:
        now = time.time()
        self.newest = {k: v for k, v in self.newest.items() if v[1] is None or v[1] + claims.LEEWAY >= now}
        while len(self.newest) >= self.MAX_SUBJECTS:
            del self.newest[next(iter(self.newest))]

    def state(self) -> object:
        return dict(self.newest)


MODES = {rule.name: rule for rule in (JtiOrder, AcceptOnce)}


def rule(mode: str, state: object = None):
    """The rule named by ``pg_session_jwt.replay`` (default ``jti``)."""
    make = MODES.get(mode)
    if make is None:
        raise errors.bad_replay_mode(mode)
    return make() if state is None else make(state)
