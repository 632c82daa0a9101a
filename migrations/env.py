import logging

from flask import current_app

from alembic import context
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.exc import OperationalError

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Logging is configured by the app (app/logs.py), whose filter must stay on every handler: no fileConfig here.
logger = logging.getLogger('alembic.env')


def get_engine():
    return current_app.extensions['migrate'].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace(
            '%', '%%')
    except AttributeError:
        return str(get_engine().url).replace('%', '%%')


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option('sqlalchemy.url', get_engine_url())
target_db = current_app.extensions['migrate'].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, 'metadatas'):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url, target_metadata=get_metadata(), literal_binds=True
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, 'autogenerate', False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info('No changes in schema detected.')

    conf_args = current_app.extensions['migrate'].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()

    try:
        connection = connectable.connect()
    except OperationalError as exc:
        raise _operator_error(exc, "check DATABASE_URL and that the database server is up") from None
    sqlite = connection.dialect.name == "sqlite"
    try:
        if sqlite:
            # A batch migration rebuilds a table (copy, DROP, rename). With foreign keys on, DROP TABLE tip first
            # deletes every alert, message, note, photo and session of it (ON DELETE CASCADE). Off while
            # migrating, set outside any transaction (SQLite ignores it inside one); checked and on again after.
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **conf_args
        )

        try:
            if _downgrades_past_the_legal_hold(connection):
                from app.legal_hold import refuse_to_drop_holds

                refuse_to_drop_holds(connection)
                connection.rollback()  # the count's transaction: the migrations begin their own
            with context.begin_transaction():
                context.run_migrations()
        except CommandError:
            unknown = _unknown_revisions(connection)
            if not unknown:
                raise
            raise CommandError(
                f"the database is at migration {', '.join(unknown)}, which this release does not have: a newer "
                "release of Tipline migrated it. Run that release (or restore the backup taken before its "
                "upgrade); this one cannot use or migrate that database") from None
        if sqlite:
            _check_foreign_keys(connection)
    except OperationalError as exc:
        if "lock" in _reason(exc).lower():
            raise _operator_error(exc, "another process held a lock on it for longer than the busy timeout: run "
                                       "this again, after stopping the web and the alert worker if it happens "
                                       "again") from None
        raise
    finally:
        if sqlite:
            connection.rollback()  # nothing is left to commit: each migration committed its own
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # the pool's next user
        connection.close()


def _check_foreign_keys(connection):
    """What a migration run with foreign keys off could have left: rows that refer to rows no longer there."""
    dangling = sorted({row[0] for row in connection.exec_driver_sql("PRAGMA foreign_key_check")})
    connection.rollback()
    if dangling:
        raise CommandError(f"after migrating, rows of {', '.join(dangling)} refer to rows that are gone (a "
                           "migration's fault, not yours): restore the backup taken before the upgrade and report it")


def _reason(exc):
    return str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]


def _operator_error(exc, hint):
    """One line for the operator instead of a traceback (Flask-Migrate prints a CommandError and exits 1)."""
    where = get_engine().url.render_as_string(hide_password=True)
    return CommandError(f"the database {where} could not be migrated ({_reason(exc)}): {hint}. No migration is "
                        "left half-applied; `flask db current` shows the one the database is at")


def _downgrades_past_the_legal_hold(connection):
    """Whether this command is a downgrade that ends below the legal hold's migration from a database that has it.
    The destination as `flask db downgrade` takes it: a revision (or its prefix), "base", or "-N" steps."""
    from app.legal_hold import HOLD_MIGRATION

    script = ScriptDirectory.from_config(config)
    heads = MigrationContext.configure(connection).get_current_heads()
    # As the command was given it (get_revision_argument() makes "base" None, as for `flask db current`); `stamp`
    # gives a tuple and runs no migration.
    destination = context.get_context().opts.get("destination_rev")
    if len(heads) != 1 or not isinstance(destination, str) or destination in ("head", "heads"):
        return False
    below = []  # the database's revision and every one under it, newest first
    revision = script.get_revision(heads[0]) if heads[0] in {s.revision for s in script.walk_revisions()} else None
    while revision is not None:
        below.append(revision.revision)
        revision = script.get_revision(revision.down_revision) if revision.down_revision else None
    if HOLD_MIGRATION not in below:
        return False
    if destination == "base":
        return True
    if destination.startswith("-") and destination[1:].isdigit():
        return int(destination[1:]) > below.index(HOLD_MIGRATION)
    try:
        target = script.get_revision(destination)
    except (CommandError, RevisionError):
        return False  # alembic says what is wrong with it
    return target is not None and target.revision in below and below.index(target.revision) > below.index(
        HOLD_MIGRATION)


def _unknown_revisions(connection):
    """Revisions the database is at that these migrations do not have: a newer release's."""
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    current = MigrationContext.configure(connection).get_current_heads()
    return [revision for revision in current if revision not in known]


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
