-- pg_regress suite (make installcheck): the SQL API as a psql session sees it.
-- Fixed test vectors: the key below exists only for this file; tokens carry
-- no exp/nbf, so the expected output never ages (time checks are in tests/).
-- Private key of the vectors, for regenerating them:
--   {"kty":"OKP","crv":"Ed25519","x":"_5UQw3DqK4cVHsQcZry-Rm8YQIKJpi2foJx9mIPblUE","d":"5AyzcnlrDZ0zetEScRVfy_EIgftORqFVz4KFfODJOAA"}
\set VERBOSITY terse
CREATE EXTENSION IF NOT EXISTS plpython3u;
CREATE ROLE regress_app LOGIN;
GRANT CREATE ON DATABASE :"DBNAME" TO regress_app;
\c - regress_app
\set VERBOSITY terse
CREATE EXTENSION pg_session_jwt;

SELECT p.oid::regprocedure AS function, p.provolatile AS vol, p.prorettype::regtype AS returns
  FROM pg_proc p WHERE p.pronamespace = 'auth'::regnamespace AND p.proname !~ '^_'
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- No key: PostgREST fallback.
SELECT auth.session(), auth.user_id() IS NULL AS no_user;
SET request.jwt.claims = '{"sub": "d2b0c8a4-5f1e-4c3b-8a7d-6e5f4a3b2c1d", "o": {"id": "not-a-uuid"}}';
SELECT auth.user_id(), auth.uid(), auth.organization(), auth.organization_id();
RESET request.jwt.claims;
SELECT auth.init();
SELECT auth.jwt_session_init('x.y.z');

-- A key from configuration (here ALTER ROLE), for the next connections.
\c - postgres
ALTER ROLE regress_app SET pg_session_jwt.jwk = '{"kty":"OKP","crv":"Ed25519","x":"_5UQw3DqK4cVHsQcZry-Rm8YQIKJpi2foJx9mIPblUE"}';
\c - regress_app
\set VERBOSITY terse
SELECT auth.init();
SELECT auth.session(), auth.user_id() IS NULL AS no_user;
-- The reference's own token shape: header {"kid":1}, no alg.
SELECT auth.jwt_session_init('eyJraWQiOjF9.eyJzdWIiOiJhbGljZSIsImp0aSI6MX0.yvbkb7X6rnKjMD1zfMeJNtlfBolHEWxBPMA_nfjniC2cB_zUUtE9Hmhut2fcYmFnzVih-TcCldHJWVHCiwI9DA');
SELECT auth.user_id(), auth.session();
SELECT auth.jwt_session_init('eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJqdGkiOjIsImF1ZCI6InJlZ3Jlc3MiLCJvIjp7ImlkIjoiNmYxYzNmMGUtOWE1Mi00YzhiLTlkM2ItMWQ0ZTVmNjA3MTgyIiwicm9sIjoiYWRtaW4ifX0._jGg2Wae42pkxWwHB7Roux3ZfK3o3SrWs7ruyfG8gsXf_Qv9Y3DPWy94Pw9U1JlvunbWBwZf6348v-XKEqcQDg');
SELECT auth.user_id(), auth.jwt() ->> 'aud' AS aud, auth.organization(), auth.organization_id();
-- Replays: alice's token again, by init and by SET.
SELECT auth.jwt_session_init('eyJraWQiOjF9.eyJzdWIiOiJhbGljZSIsImp0aSI6MX0.yvbkb7X6rnKjMD1zfMeJNtlfBolHEWxBPMA_nfjniC2cB_zUUtE9Hmhut2fcYmFnzVih-TcCldHJWVHCiwI9DA');
SET pg_session_jwt.jwt = 'eyJraWQiOjF9.eyJzdWIiOiJhbGljZSIsImp0aSI6MX0.yvbkb7X6rnKjMD1zfMeJNtlfBolHEWxBPMA_nfjniC2cB_zUUtE9Hmhut2fcYmFnzVih-TcCldHJWVHCiwI9DA';
SELECT auth.user_id();
-- A tampered payload (sub changed to "mallory", signature kept).
SELECT auth.jwt_session_init('eyJraWQiOjF9.eyJzdWIiOiJtYWxsb3J5IiwianRpIjo5OX0.yvbkb7X6rnKjMD1zfMeJNtlfBolHEWxBPMA_nfjniC2cB_zUUtE9Hmhut2fcYmFnzVih-TcCldHJWVHCiwI9DA');
-- A rolled-back login does not survive the rollback.
BEGIN;
SELECT auth.jwt_session_init('eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYXJvbCIsImp0aSI6M30.zpErl9dkT4_eP5Xdcn8McdKo2ERSZTUOavXok7mx3Atz4ewUJBqVBjLoXrw9FVGFfHWX3-Al6kipZpt653PLBw');
SELECT auth.user_id();
ROLLBACK;
SELECT auth.user_id();

-- A transaction-local session ends with its transaction.
RESET pg_session_jwt.jwt;
BEGIN;
SELECT auth.jwt_session_init('eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkYXZlIiwianRpIjo0fQ.-Z5sVHhl_eERR-nS51GgYYovNSYrFBn-wyTI89ScoyP8fZMi9Rn2hMntyeU2VwweFvk-QlXlaWhbKZ_1zh5QDQ', true);
SELECT auth.user_id();
COMMIT;
SELECT auth.user_id() IS NULL AS no_user;

\c - postgres
ALTER ROLE regress_app RESET pg_session_jwt.jwk;
DROP EXTENSION pg_session_jwt;
REVOKE CREATE ON DATABASE :"DBNAME" FROM regress_app;
DROP ROLE regress_app;
