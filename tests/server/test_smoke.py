from helpers import scalar


def test_session_roundtrip(connect, minter):
    conn = connect()
    conn.execute("SELECT auth.init()")
    conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token("alice")])
    assert scalar(conn, "SELECT auth.user_id()") == "alice"
