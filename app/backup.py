"""Backups of the database, taken while the app runs, and their verification.

SQLite: the online backup API copies a consistent snapshot page by page while writers carry on (a plain file
copy of a WAL database can catch it half-written). PostgreSQL: pg_dump does the same job; we print how.
The keyring is never part of a database backup (it is not in the database): a backup alone opens no tip, and
the keyring must be backed up apart (README, Running in production).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class BackupError(RuntimeError):
    """The backup cannot be made or does not check out; the message says why."""


class NotSQLite(BackupError):
    """The database is not SQLite: use the database's own tool (pg_dump)."""


@dataclass(frozen=True)
class VerifyResult:
    integrity: str
    schema_version: str | None
    head: str
    tips: int
    shredded: int
    older: bool = False  # an earlier migration of this code: usable, `flask db upgrade` once restored

    @property
    def ok(self) -> bool:
        return self.integrity == "ok" and (self.schema_version == self.head or self.older)


def sqlite_path(database_uri: str) -> Path:
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite":
        raise NotSQLite(f"the database is {url.get_backend_name()}, not SQLite")
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(url.database)


def pg_dump_instructions(database_uri: str) -> str:
    # libpq's scheme, and no password at all: never printed, and a masked one ('***') would be sent as the
    # password, winning over ~/.pgpass.
    url = make_url(database_uri).set(drivername="postgresql")._replace(password=None)  # set() skips a None
    safe = url.render_as_string(hide_password=False)
    database, role = url.database or "tipline", url.username or "tipline"
    return (
        "This database is PostgreSQL: back it up with pg_dump, which takes a consistent snapshot while the app "
        "runs:\n"
        f"  (umask 077; pg_dump --format=custom --no-owner --file=tipline-$(date +%Y%m%d).dump '{safe}')\n"
        "(give the password through ~/.pgpass or PGPASSWORD, not on the command line; the umask keeps the dump, "
        "with the staff's emails, phones and password hashes, to its owner). Restore into an empty "
        "database, made again by the postgres superuser with this role as its owner (`--clean` over the live one "
        "fails on what later migrations added, and leaves their tables for `flask db upgrade` to trip on):\n"
        f"  dropdb {database} && createdb --owner {role} {database}\n"
        "then, as this role, so that it owns the tables it restores:\n"
        f"  pg_restore --no-owner --exit-on-error --single-transaction --dbname='{safe}' tipline-YYYYMMDD.dump\n"
        "then `flask db upgrade` (a dump from an older release): `flask db current` must show the head revision.\n"
        "Back up the keyring apart (README, Running in production)."
    )


def create_backup(database_uri: str, target: Path) -> Path:
    """Copy the live SQLite database into `target` (a new file, owner-only), consistently."""
    source = sqlite_path(database_uri)
    if not source.is_file():
        raise BackupError("the database file does not exist")
    if target.exists():
        raise BackupError(f"{target} already exists; a backup never overwrites a file")
    if target.resolve() == source.resolve():
        raise BackupError("the backup cannot be the database itself")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only from the start: the file holds metadata about every tip even though no content is readable.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror}") from None
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        with dst:
            # One step: in WAL mode it reads a single snapshot while writers carry on. Copying in several
            # steps would start over after every write from another connection, and might never finish.
            src.backup(dst, pages=-1)
        # One self-contained file: no -wal or -shm beside it to forget when copying it away.
        dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        dst.close()
        target.unlink(missing_ok=True)
        raise BackupError(f"the backup failed: {exc}") from None
    finally:
        src.close()
    dst.close()
    return target


def _scripts() -> ScriptDirectory:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def migration_head() -> str:
    heads = _scripts().get_heads()
    if len(heads) != 1:
        raise BackupError(f"the migrations have {len(heads)} heads; expected one")
    return heads[0]


def older_revisions() -> set[str]:
    """Every migration before the head: a backup at one of them is from an older release of this code."""
    head = migration_head()
    return {script.revision for script in _scripts().walk_revisions()} - {head}


def verify_backup(path: Path) -> VerifyResult:
    """Open the backup read-only and check it: integrity, schema at the latest migration, tips counted."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    try:
        # As a URI (percent-encoded): a '?' or '#' in a folder's name would otherwise end the file's name there,
        # and SQLite would open (and create, read-write) the file named by what came before it.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {path}: {exc}") from None
    try:
        integrity = "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            tips, shredded = conn.execute(
                "SELECT count(*), count(shredded_at) FROM tip").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a Tipline database: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable SQLite database: {exc}") from None
    finally:
        conn.close()
    version = row[0] if row else None
    return VerifyResult(integrity, version, migration_head(), int(tips), int(shredded),
                        older=version in older_revisions())


# The names `deploy/tipline-backup.service` gives its nightly copies; prune touches no other file.
BACKUP_GLOB = "tipline-*.db"


@dataclass(frozen=True)
class PrunePlan:
    delete: list[Path] = field(default_factory=list)
    keep: list[Path] = field(default_factory=list)
    newest_usable: Path | None = None


def plan_prune(directory: Path, keep_days: int, now: float | None = None) -> PrunePlan:
    """Which backups in `directory` are older than `keep_days` and may go.

    A backup kept forever keeps every tip shredded since it was taken readable to whoever also holds the
    keyring, so retention only holds if old backups go too. Never deleted: the newest backup that verifies,
    however old (one old copy is better than none), and anything not named like the nightly copies or not a
    plain file. With no backup that verifies, nothing may go: that is refused."""
    if not directory.is_dir():
        raise BackupError(f"{directory} is not a directory")
    backups = sorted(
        (path for path in directory.glob(BACKUP_GLOB) if path.is_file() and not path.is_symlink()),
        key=lambda path: path.stat().st_mtime, reverse=True,
    )
    newest_usable = None
    for path in backups:
        try:
            if verify_backup(path).ok:
                newest_usable = path
                break
        except BackupError:
            continue
    if newest_usable is None:
        raise BackupError(f"no backup in {directory} verifies: nothing deleted (run `flask backup verify` on them)")
    cutoff = (time.time() if now is None else now) - keep_days * 86400
    old = [path for path in backups if path.stat().st_mtime < cutoff and path != newest_usable]
    return PrunePlan(delete=old, keep=[path for path in backups if path not in old], newest_usable=newest_usable)
