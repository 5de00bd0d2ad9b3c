"""A provider's key set, from its URL to the server's setting.

``pg-session-jwt jwks`` fetches a JWKS (:mod:`.fetch`), keeps only what the
server reads of it (:mod:`.judge`), writes it into ``pg_session_jwt.jwk``
with ``ALTER SYSTEM/DATABASE/ROLE`` (:mod:`.apply`) and keeps it current
(:mod:`.sync`).  Every step judges a set with the server's own parser,
:func:`pg_session_jwt.jwk.parse`, so it refuses exactly what the server
would refuse and names the keys the server would skip.
"""
