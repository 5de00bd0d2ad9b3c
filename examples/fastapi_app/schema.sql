-- The example's table, run by the role that owns it (not by the app's role:
-- table owners bypass RLS).  The app connects as todo_web.
CREATE TABLE todos (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner text NOT NULL DEFAULT auth.user_id(),
    task  text NOT NULL CHECK (task <> '')
);
ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_todos ON todos
    USING (owner = (SELECT auth.user_id()))
    WITH CHECK (owner = (SELECT auth.user_id()));
GRANT SELECT, INSERT ON todos TO todo_web;
