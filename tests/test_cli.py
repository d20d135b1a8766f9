"""The command line: `librarian create`, `demo seed`, `db upgrade` (SPEC 6)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from library.database import include_in_autogenerate
from library.extensions import db
from tests.conftest import ApiClient, invariants

ROOT = Path(__file__).resolve().parent.parent
CLI_PASSWORD = "cli-password-1"


def login(anon, email, password):
    return anon.post("/auth/login", json={"email": email, "password": password})


def create(runner, *args, **kwargs):
    return runner.invoke(args=["librarian", "create", *args], **kwargs)


def count(admin_api, path):
    return admin_api.get(path).json["total"]


# ---- librarian create --------------------------------------------------------------


def test_librarian_create_makes_an_account_that_can_sign_in(app, runner, anon):
    result = create(
        runner, "--email", "Cli@Library.test", "--name", "Cli Person", "--password", CLI_PASSWORD
    )
    assert result.exit_code == 0, result.output
    assert "cli@library.test" in result.output
    r = login(anon, "cli@library.test", CLI_PASSWORD)
    assert r.status_code == 200
    me = ApiClient(app, r.json["access_token"]).get("/auth/me").json
    assert me["email"] == "cli@library.test" and me["name"] == "Cli Person"
    assert me["is_admin"] is True  # the very first account is the admin
    assert me["is_active"] is True


def test_librarian_create_works_while_registration_is_closed(app, runner, anon, admin):
    assert app.config["REGISTRATION_OPEN"] is False
    result = create(runner, "--email", "second@library.test", "--password", CLI_PASSWORD)
    assert result.exit_code == 0, result.output
    token = login(anon, "second@library.test", CLI_PASSWORD).json["access_token"]
    assert ApiClient(app, token).get("/auth/me").json["is_admin"] is False


def test_librarian_create_admin_flag(app, runner, anon, admin):
    result = create(runner, "--email", "boss@library.test", "--password", CLI_PASSWORD, "--admin")
    assert result.exit_code == 0, result.output
    token = login(anon, "boss@library.test", CLI_PASSWORD).json["access_token"]
    assert ApiClient(app, token).get("/librarians").status_code == 200


def test_librarian_create_asks_for_the_password(runner, anon):
    result = create(runner, "--email", "asked@library.test", input=f"{CLI_PASSWORD}\n" * 2)
    assert result.exit_code == 0, result.output
    assert login(anon, "asked@library.test", CLI_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "args",
    [
        ["--email", "short@library.test", "--password", "short"],
        ["--email", "long@library.test", "--password", "x" * 129],
        ["--email", "not-an-email", "--password", CLI_PASSWORD],
    ],
)
def test_librarian_create_refuses_bad_values(runner, admin_api, args):
    result = create(runner, *args)
    assert result.exit_code != 0
    assert count(admin_api, "/librarians") == 1


def test_librarian_create_says_why_in_the_cli_language(app, runner, admin_api):
    args = ("--email", "short@library.test", "--password", "short")
    assert "password: Length must be between 8 and 128." in create(runner, *args).output
    app.config["DEFAULT_LANGUAGE"] = "ru"
    assert "password: Длина должна быть от 8 до 128." in create(runner, *args).output
    assert count(admin_api, "/librarians") == 1


def test_librarian_create_refuses_a_taken_email(runner, admin_api, admin):
    result = create(runner, "--email", admin.email.upper(), "--password", CLI_PASSWORD)
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert count(admin_api, "/librarians") == 1


# ---- demo seed ---------------------------------------------------------------------


def test_demo_seed_fills_an_empty_library(app, runner, anon):
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "demo@library.test" in result.output
    r = login(anon, "demo@library.test", "demo-library")
    assert r.status_code == 200
    demo = ApiClient(app, r.json["access_token"])
    assert demo.get("/auth/me").json["is_admin"] is True
    books, readers = count(demo, "/books"), count(demo, "/readers")
    assert books >= 20 and readers >= 10
    loans = demo.get("/loans?per_page=100").json
    assert loans["total"] > 0
    assert {loan["status"] for loan in loans["items"]} == {"open", "returned"}
    assert count(demo, "/loans?status=overdue") >= 1
    assert invariants(app) == []
    # a Russian and English catalog, searchable
    assert demo.get("/books", query_string={"q": "война"}).json["total"] >= 1
    assert demo.get("/books", query_string={"q": "orwell"}).json["total"] >= 1


def test_demo_seed_twice_adds_nothing_the_second_time(app, runner, anon):
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    token = login(anon, "demo@library.test", "demo-library").json["access_token"]
    demo = ApiClient(app, token)
    before = {path: count(demo, path) for path in ("/books", "/readers", "/loans", "/librarians")}
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "already" in result.output
    after = {path: count(demo, path) for path in before}
    assert after == before
    assert login(anon, "demo@library.test", "demo-library").status_code == 200
    assert invariants(app) == []


def test_demo_seed_creates_no_demo_account_where_accounts_exist(runner, anon, admin_api):
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert login(anon, "demo@library.test", "demo-library").status_code == 401
    assert count(admin_api, "/librarians") == 1
    assert count(admin_api, "/books") > 0  # the sample catalog is still added


def test_demo_seed_with_own_account(runner, anon):
    result = runner.invoke(
        args=["demo", "seed", "--email", "try@library.test", "--password", "try-it-out-1"]
    )
    assert result.exit_code == 0, result.output
    assert login(anon, "try@library.test", "try-it-out-1").status_code == 200


def test_demo_seed_refuses_production(app, runner, admin_api):
    app.config["LIBRARY_ENV"] = "production"
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code != 0
    assert count(admin_api, "/books") == 0


# ---- db upgrade --------------------------------------------------------------------


def flask_cli(*args, database_url):
    env = {**os.environ, "DATABASE_URL": database_url, "LIBRARY_ENV": "development"}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_db_upgrade_creates_the_schema_in_a_fresh_sqlite_file(tmp_path):
    path = tmp_path / "fresh.db"
    url = f"sqlite:///{path}"
    result = flask_cli("db", "upgrade", database_url=url)
    assert result.returncode == 0, result.stderr
    assert path.exists()

    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        tables = set(inspector.get_table_names())
        assert set(db.metadata.tables) <= tables
        assert {"book", "reader", "loan", "librarian", "revoked_token", "alembic_version"} <= tables
        indexes = {i["name"] for t in ("book", "loan", "reader") for i in inspector.get_indexes(t)}
        assert {"uq_book_isbn_active", "uq_loan_open_reader_book"} <= indexes
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_name": include_in_autogenerate}
            )
            drift = compare_metadata(context, db.metadata)
        assert drift == []  # the migrations build exactly what the models describe
    finally:
        engine.dispose()

    again = flask_cli("db", "upgrade", database_url=url)
    assert again.returncode == 0, again.stderr
