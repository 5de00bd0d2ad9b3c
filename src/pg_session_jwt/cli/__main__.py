"""``python -m pg_session_jwt.cli``: the same as the ``pg-session-jwt`` script."""

import sys

from . import main

sys.exit(main())
