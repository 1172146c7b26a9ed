"""Postgres databases by template and rename: the seeded template, and putting a copy of it
(or an empty database) in place of the project's database without losing the old one on the
way.

Every step is SQL run with psql inside the Postgres container, connected to the maintenance
database (``postgres``), never to the project's own. The swap is one transaction: the api's
connections are ended and both renames happen together or not at all, so a swap killed at
any moment leaves the previous database in place, under its own name, usable. What a killed
run can leave behind (a half-built copy under the temporary name, an old database not yet
dropped, a database closed to connections while its template was copied) is tidied by
``repair`` before every data command and after every `up`.

Names: the project's database ``app`` has its template ``app__devenv_tpl_<hash>`` and, while
a swap runs, ``app__devenv_new`` and ``app__devenv_old``. Postgres cuts names at 63 bytes, so
a long database name is shortened in these (never the database's own name).

The spare: after a reset, a copy of the template is made ahead, in the background inside the
container (as ``app__devenv_spn``, renamed ``app__devenv_sp_<hash>`` once complete), so the next
reset only renames it into place: copying the template is most of a reset's time. A spare
that is not ready, or was made from another template, is not used: the reset copies the
template itself then, as it did without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devenv.interfaces import Engine

MAX_NAME = 63
TEMPLATE_MARK = "__devenv_tpl_"
NEW_MARK = "__devenv_new"
OLD_MARK = "__devenv_old"
SPARE_MARK = "__devenv_sp_"  # + the template's 12 hash characters: a complete spare of it
BUILDING_MARK = "__devenv_spn"  # a spare while it is copied
_STEM = MAX_NAME - len(TEMPLATE_MARK) - 12  # room for the mark and 12 hash characters


@dataclass(frozen=True)
class Names:
    db: str
    template: str
    new: str
    old: str

    @property
    def spare(self) -> str:
        """The spare copy of this template, under this name only once complete."""
        return f"{stem(self.db)}{SPARE_MARK}{self.template[-12:]}"

    @property
    def building(self) -> str:
        return f"{stem(self.db)}{BUILDING_MARK}"


def stem(db: str) -> str:
    """The database name, cut (by bytes, on a character boundary) to leave room for a mark."""
    out = db
    while len(out.encode()) > _STEM:
        out = out[:-1]
    return out


def names(db: str, seed_hash: str) -> Names:
    base = stem(db)
    return Names(db, f"{base}{TEMPLATE_MARK}{seed_hash[:12]}", f"{base}{NEW_MARK}", f"{base}{OLD_MARK}")


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def maintenance_db(db: str) -> str:
    return "template1" if db == "postgres" else "postgres"


# -- the SQL, as plain text (unit-tested) ---------------------------------------------------


def repair_sql(n: Names) -> str:
    """Undo what a killed run left: a database closed to connections is opened again; when
    the project's database is missing but the old one is there, the old one takes its name
    back; leftover copies are dropped."""
    return f"""
SELECT format('ALTER DATABASE %I ALLOW_CONNECTIONS true', datname) FROM pg_database
 WHERE datname = {literal(n.db)} AND NOT datallowconn \\gexec
SELECT format('ALTER DATABASE %I RENAME TO %I', {literal(n.old)}, {literal(n.db)})
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = {literal(n.db)})
   AND EXISTS (SELECT 1 FROM pg_database WHERE datname = {literal(n.old)}) \\gexec
DROP DATABASE IF EXISTS {ident(n.new)} WITH (FORCE);
DROP DATABASE IF EXISTS {ident(n.old)} WITH (FORCE);
"""


def make_template_sql(n: Names, record: str) -> str:
    """Copy the project's database into its template: new connections are refused and the
    open ones ended for the moment of the copy (Postgres copies only an unused database)."""
    return f"""
SELECT format('ALTER DATABASE %I IS_TEMPLATE false', datname) FROM pg_database
 WHERE datname LIKE {literal(stem(n.db) + TEMPLATE_MARK + "%")} \\gexec
SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database
 WHERE datname LIKE {literal(stem(n.db) + TEMPLATE_MARK + "%")} \\gexec
ALTER DATABASE {ident(n.db)} ALLOW_CONNECTIONS false;
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = {literal(n.db)} AND pid <> pg_backend_pid() \\g /dev/null
CREATE DATABASE {ident(n.template)} TEMPLATE {ident(n.db)};
ALTER DATABASE {ident(n.db)} ALLOW_CONNECTIONS true;
ALTER DATABASE {ident(n.template)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false;
COMMENT ON DATABASE {ident(n.template)} IS {literal(record)};
"""


def reopen_sql(n: Names) -> str:
    return f"ALTER DATABASE {ident(n.db)} ALLOW_CONNECTIONS true;\n"


def template_exists_sql(n: Names) -> str:
    return f"SELECT count(*) FROM pg_database WHERE datname = {literal(n.template)};\n"


def build_sql(n: Names, *, empty: bool) -> str:
    """The new database, under the temporary name: a copy of the template, or empty."""
    source = "template0" if empty else n.template
    return (
        f"DROP DATABASE IF EXISTS {ident(n.new)} WITH (FORCE);\n"
        f"CREATE DATABASE {ident(n.new)} TEMPLATE {ident(source)};\n"
    )


def copy_sql(n: Names) -> str:
    """The new database under the temporary name, a copy of the template: the spare renamed
    when one of this template is complete, else copied now."""
    rename = f"ALTER DATABASE {ident(n.spare)} RENAME TO {ident(n.new)}"
    copy = f"CREATE DATABASE {ident(n.new)} TEMPLATE {ident(n.template)}"
    return f"""
DROP DATABASE IF EXISTS {ident(n.new)} WITH (FORCE);
SELECT {literal(rename)} FROM pg_database WHERE datname = {literal(n.spare)} \\gexec
SELECT {literal(copy)} WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = {literal(n.new)}) \\gexec
"""


def spare_sql(n: Names) -> str:
    """The background job: the old database dropped, spares of other templates too, then the
    next spare copied under a working name and renamed when complete."""
    copy = f"CREATE DATABASE {ident(n.building)} TEMPLATE {ident(n.template)}"
    rename = f"ALTER DATABASE {ident(n.building)} RENAME TO {ident(n.spare)}"
    return f"""
DROP DATABASE IF EXISTS {ident(n.old)} WITH (FORCE);
DROP DATABASE IF EXISTS {ident(n.building)} WITH (FORCE);
SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database
 WHERE starts_with(datname, {literal(stem(n.db) + SPARE_MARK)}) AND datname <> {literal(n.spare)} \\gexec
SELECT {literal(copy)} WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = {literal(n.spare)}) \\gexec
SELECT {literal(rename)} FROM pg_database WHERE datname = {literal(n.building)} \\gexec
"""


def swap_sql(n: Names, record: str) -> str:
    """End the connections to the project's database and rename the new one into its place,
    in one transaction. The old one is kept as ``old`` for the caller to drop (or to swap
    back)."""
    statements = [
        f"ALTER DATABASE {ident(n.db)} RENAME TO {ident(n.old)}",
        f"ALTER DATABASE {ident(n.new)} RENAME TO {ident(n.db)}",
    ]
    if record:
        statements.append(f"COMMENT ON DATABASE {ident(n.db)} IS {literal(record)}")
    return retrying_transaction(n.db, statements)


def retrying_transaction(db: str, statements: list[str], *, attempts: int = 250) -> str:
    """One DO block: end the connections to ``db``, then run the statements (renames need
    the database unused) in one transaction; tried again while an api reconnects in between
    (object_in_use). Killed at any moment, none of them happened."""
    body = "\n".join(f"      EXECUTE {literal(statement)};" for statement in statements)
    return f"""
DO $devenv$
BEGIN
  FOR attempt IN 1..{attempts} LOOP
    PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = {literal(db)} AND pid <> pg_backend_pid();
    BEGIN
{body}
      RETURN;
    EXCEPTION WHEN object_in_use THEN
      PERFORM pg_sleep(0.02);
    END;
  END LOOP;
  RAISE EXCEPTION 'the database stayed in use: could not swap it';
END
$devenv$;
"""


def drop_old_sql(n: Names) -> str:
    return f"DROP DATABASE IF EXISTS {ident(n.old)} WITH (FORCE);\n"


def swap_back_sql(n: Names) -> str:
    """After a failed re-seed: the old database takes its place again, the failed one goes."""
    return f"""
DROP DATABASE IF EXISTS {ident(n.new)} WITH (FORCE);
ALTER DATABASE {ident(n.db)} RENAME TO {ident(n.new)};
ALTER DATABASE {ident(n.old)} RENAME TO {ident(n.db)};
DROP DATABASE IF EXISTS {ident(n.new)} WITH (FORCE);
"""


def size_sql(n: Names) -> str:
    return f"SELECT pg_database_size({literal(n.db)});\n"


# -- carrying it out -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """How to reach the project's Postgres from inside its container."""

    container: str
    user: str
    db: str


def run(engine: Engine, target: Target, sql: str) -> str:
    """Run SQL on the maintenance database; raise SeedFailedError with Postgres' message."""
    from devenv.data import psql_on

    return psql_on(engine, target.container, target.user, maintenance_db(target.db), sql)


def make_spare(engine: Engine, target: Target, n: Names) -> None:
    """Start the spare's job inside the Postgres container and return at once: psql runs
    there in the background (its output discarded, so `docker exec` does not wait for it).
    It belongs to the container, not to devenv: `down` ends it with Postgres."""
    script = 'printf "%s" "$2" | psql -X -q -U "$0" -d "$1" -f - >/dev/null 2>&1 &'
    engine.exec(target.container, ["sh", "-c", script, target.user, maintenance_db(target.db), spare_sql(n)])
