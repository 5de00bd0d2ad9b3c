"""pg_session_jwt: JSON Web Tokens as authenticated PostgreSQL sessions.

The modules here are the single source of the extension's logic.  The pure
core (``b64url``, ``jwk``, ``jws``, ``claims``, ``session``) runs unchanged
inside the server's PL/Python and in ordinary Python programs; ``server`` is
the thin PL/Python adapter.  The rest serves clients, tests and the demo:
``options`` and ``client`` (connecting, ``jwt_session``), ``keys``/``signing``
(keys and tokens), ``verify`` (offline verification with the core),
``doctor`` and ``cli`` (the ``pg-session-jwt`` command), ``cluster``, ``demo``.
"""

__version__ = "0.5.0"
