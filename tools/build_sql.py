#!/usr/bin/env python3
"""Generate the extension's SQL scripts and its code file from the package.

The server-side modules of src/pg_session_jwt/ are compiled into one code
file that ``make install`` puts beside the scripts, in the server's
extension directory; the loader (auth._load(), and auth._init() for a
connection that starts with auth.init()) reads it and registers the
modules as a private package when a connection first needs them; every
other PL/Python body is a few lines that call into that package.  So the
package stays the single source of the logic, and each version reads the
code of its own version.

    build_sql.py --code-out sql/pg_session_jwt--0.5.0.marshal
    build_sql.py --code-dir "$(pg_config --sharedir)/extension" --out sql/pg_session_jwt--0.5.0.sql
    build_sql.py --template sql/pg_session_jwt--0.5.0--0.5.1.sql.in --version 0.5.1 --code-dir ... --out ...
"""

from __future__ import annotations

import __future__
import argparse
import binascii
import marshal
import re
import zlib
from importlib.util import MAGIC_NUMBER
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "pg_session_jwt"
# The modules the server runs at load, in dependency order (each imports only earlier ones).
SERVER_MODULES = ["errors", "b64url", "strictjson", "settings", "jwa", "jwk", "jws", "claims", "replay", "session", "server"]
# Modules in the code file that the server runs only when first imported,
# which must be spelled ``from . import name``: the package's __getattr__
# (PEP 562) loads them, as the server's package has no directory to search.
LAZY_MODULES = ["rsa_ec"]


def package_version() -> str:
    text = (PACKAGE / "__init__.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


def module_key(version: str) -> str:
    """Where a version's loaded server module lives in PL/Python's GD."""
    return f"pg_session_jwt {version}"


FUTURE_IMPORT = "from __future__ import annotations\n"


def module_code(name: str, filename: str):
    """A server module compiled for the server, which loads it in every connection.

    Postponed annotations come as a compiler flag instead of the module's
    ``from __future__`` import, which would import ``__future__`` (a fifth
    of a millisecond); docstrings are left out (``optimize=2``; the server
    modules use no ``assert``), a sixth less to unmarshal and keep.
    """
    source = (PACKAGE / f"{name}.py").read_text().replace(FUTURE_IMPORT, "\n", 1)  # line numbers stay
    return compile(source, filename, "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True,
                   optimize=2)


def boot_source(version: str) -> str:
    """The program that makes the modules in ``code`` (name to code object)
    a package and starts the session; auth._load() runs it.  Compiled here
    with the modules, so a new connection compiles only the loader's few
    lines: PL/Python compiles a function's body in every connection, at
    about 10 µs a line."""
    package = "_pg_session_jwt_" + re.sub(r"\W", "_", version)
    return f'''import gc
import sys

Module = type(sys)  # types.ModuleType, without importing types
package = Module({package!r})
package.__path__ = []


def load(name):
    module = Module(package.__name__ + "." + name)
    module.__package__ = package.__name__
    module.__file__ = {module_filename(version)!r} % name
    sys.modules[module.__name__] = module
    exec(code[name], module.__dict__)
    setattr(package, name, module)
    return module


def __getattr__(name):  # `from . import name` of a module not loaded yet
    if name not in code:
        raise AttributeError(name)
    return load(name)


package.__getattr__ = __getattr__
sys.modules[package.__name__] = package
for name in {SERVER_MODULES!r}:
    load(name)
package.server.start(GD)
GD[{module_key(version)!r}] = package.server
# What loaded here lives as long as the connection: with it frozen, no
# collection ever walks it again (one that fell into a new connection's
# first calls took 0.5-0.7 ms).  This freezes whatever else the interpreter
# holds as well; the package loads at a connection's first call, before
# other code left much behind.
gc.freeze()
'''


def code_file(version: str) -> bytes:
    """The code file: the bytecode magic number of the Python that compiled
    it, then the boot program and the server modules, compiled and marshalled."""
    boot = compile(boot_source(version), module_filename(version) % "boot", "exec", dont_inherit=True, optimize=2)
    code = {name: module_code(name, module_filename(version) % name) for name in SERVER_MODULES + LAZY_MODULES}
    return MAGIC_NUMBER + marshal.dumps((boot, code))


def sources_program(version: str) -> str:
    """What auth._load() runs when the server's Python cannot read the code
    file's bytecode: the boot program, after compiling the modules' sources
    (packed: marshal, zlib, base64)."""
    sources = {name: (PACKAGE / f"{name}.py").read_text() for name in SERVER_MODULES + LAZY_MODULES}
    packed = binascii.b2a_base64(zlib.compress(marshal.dumps(sources), 9), newline=False).decode("ascii")
    return f'''import binascii
import marshal
import zlib

sources = marshal.loads(zlib.decompress(binascii.a2b_base64({packed!r})))
code = {{name: compile(text, {module_filename(version)!r} % name, "exec") for name, text in sources.items()}}
''' + boot_source(version)


def code_file_name(version: str) -> str:
    return f"pg_session_jwt--{version}.marshal"


def module_filename(version: str) -> str:
    return f"<pg_session_jwt {version}>/%s.py"


def loader_body(version: str, code_dir: str) -> str:
    """The body of auth._load(): read the code file and run its boot program.

    The modules come as bytecode compiled by the Python running this script
    (PGXS runs the one the server was built with): unmarshalling is far
    cheaper than compiling, which every new connection would feel.  They
    are a file beside the install script, which only the administrator who
    installed the extension can write.  A new connection reads it in about
    0.1 ms, where a table row took 0.5 ms (a query, its catalog lookups,
    TOAST) and a literal in this body 1 ms (PL/Python compiles the body in
    every connection).  A server whose Python has another bytecode magic
    number runs what auth._module_sources() returns instead.  It loads once
    per connection: a call after that (anyone may call it) changes nothing.
    """
    path = str(Path(code_dir) / code_file_name(version))
    return f'''# Generated by tools/build_sql.py from src/pg_session_jwt/ ({version}).
import marshal
import sys

CODE_FILE = {path!r}

if {module_key(version)!r} not in GD:
    try:
        with open(CODE_FILE, "rb") as file:
            data = file.read()
    except OSError as e:
        raise RuntimeError("pg_session_jwt {version} cannot read its code, reinstall it: " + str(e)) from None
    magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER  # importlib.util's, without importing it
    if data.startswith(magic):
        boot, code = marshal.loads(memoryview(data)[len(magic):])
    else:  # another Python's bytecode: compile the sources instead
        boot, code = plpy.execute("SELECT auth._module_sources() AS s")[0]["s"], None
    exec(boot, {{"GD": GD, "code": code}})'''


def call_line(call: str, version: str) -> str:
    """The line that calls ``call`` in the loaded package and returns its result."""
    return f"return GD[{module_key(version)!r}].{call}"


def entry_body(call: str, version: str) -> str:
    """A PL/Python function that calls ``call`` in the package, loading it first if needed.

    Three lines: PL/Python compiles the body in each new connection, and
    this spelling costs that 0.03 ms less than caching the function in SD,
    for 10 ns more per call.
    """
    return f'''if {module_key(version)!r} not in GD:
    plpy.execute("SELECT auth._load()")
{call_line(call, version)}'''


def render(template: str, version: str, code_dir: str) -> str:
    plpython = (ROOT / "sql" / "plpython.sql.in").read_text()
    sources = sources_program(version)
    if "$src$" in sources or "$$" in sources:
        raise SystemExit("the sources program holds a quote delimiter of auth._module_sources()")
    plpython = plpython.replace("@LOADER@", loader_body(version, code_dir)).replace("@SOURCES@", sources)
    plpython = re.sub(r"@ENTRY ([^@]+)@", lambda m: entry_body(m.group(1), version), plpython)
    plpython = re.sub(r"@CALL ([^@]+)@", lambda m: call_line(m.group(1), version), plpython)
    return template.replace("@PLPYTHON@", plpython).replace("@VERSION@", version)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--template", type=Path, default=ROOT / "sql" / "pg_session_jwt.sql.in")
    ap.add_argument("--version", default=package_version())
    ap.add_argument("--out", type=Path, help="the SQL script to write")
    ap.add_argument("--code-dir", help="with --out: the directory the server reads the code file from")
    ap.add_argument("--code-out", type=Path, help="the code file to write")
    args = ap.parse_args()
    if not (args.out or args.code_out) or bool(args.out) != bool(args.code_dir):
        ap.error("give --out with --code-dir, or --code-out, or both")
    if args.out:
        args.out.write_text(render(args.template.read_text(), args.version, args.code_dir))
    if args.code_out:
        args.code_out.write_bytes(code_file(args.version))


if __name__ == "__main__":
    main()
