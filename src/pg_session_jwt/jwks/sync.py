"""Keep ``pg_session_jwt.jwk`` equal to a provider's published key set.

One round fetches the set, cuts it to what the server reads, and writes it
only when it differs from what the target holds; a round that fails
(unreachable, not JSON, a secret in the set, ...) writes nothing, so the
server keeps the last good set.  Watching repeats rounds at the interval
the provider's ``Cache-Control: max-age`` asks for, kept between a floor
and a ceiling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import psycopg

from .. import errors
from . import apply, fetch, judge


@dataclass
class Outcome:
    fetched: fetch.Fetched
    reports: List[judge.KeyReport]
    change: apply.Change
    applied: bool


def sync_once(url: str, dsn: str, target: apply.Target, dry_run: bool = False, **fetch_options) -> Outcome:
    """One round; raises :class:`fetch.FetchError` or :class:`errors.JWTError` when nothing may be applied."""
    fetched = fetch.fetch(url, **fetch_options)
    value, reports = judge.checked(fetched.text)
    with psycopg.connect(dsn, autocommit=True) as conn:
        change = apply.plan(conn, target, value)
        applied = change.changed and not dry_run
        if applied:
            change.target.write(conn, change.text)
    return Outcome(fetched, reports, change, applied)


def interval(max_age: Optional[int], floor: float, ceiling: float) -> float:
    """Seconds to the next round: the provider's max-age within [floor, ceiling]; the ceiling when unsaid."""
    return min(max(float(ceiling if max_age is None else max_age), floor), ceiling)


def watch(round_: Callable[[], Outcome], floor: float, ceiling: float, count: Optional[int] = None,
          on_error: Callable[[Exception], None] = lambda e: None, sleep: Callable[[float], None] = time.sleep) -> int:
    """Run rounds until ``count`` of them ran (forever when None); returns how many failed.

    After a failure the next round comes after ``floor`` seconds: the set
    in force stays, and the provider gets another chance soon.
    """
    failures = 0
    done = 0
    while count is None or done < count:
        try:
            wait = interval(round_().fetched.max_age, floor, ceiling)
        except (fetch.FetchError, errors.JWTError, psycopg.Error) as e:
            failures += 1
            on_error(e)
            wait = floor
        done += 1
        if count is None or done < count:
            sleep(wait)
    return failures
