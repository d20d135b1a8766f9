"""The benchmark's data: generated deterministically, bulk-loaded with SQL.

Nothing here goes through the app's API or ORM: the catalog, readers and loans are
written with COPY (PostgreSQL, psycopg 3) or executemany (sqlite3), in the shape the
migrations made. `search_text` is computed with the app's own folding function
(`library.circulation.values.search_text`), so the loaded rows are exactly what the app
would have stored; the search indexes follow by themselves (on PostgreSQL the generated
`search_tsv` column and its GIN index, and the title indexes; on SQLite the FTS5 triggers).
"""

# ruff: noqa: S608, S311, SIM905

import itertools
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from library.circulation.values import search_text

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", ROOT / "bench" / ".data"))
# The server used for the bench_* databases; only its host, port and user are used.
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LIBRARIAN_EMAIL = "bench@example.org"
LIBRARIAN_PASSWORD = "bench-password-123"  # noqa: S105 - a throw-away benchmark account

# ---- words -------------------------------------------------------------------------

EN_WORDS = """
the of and a in to night house river garden secret stone city war peace love time
light lighthouse dark shadow winter
summer autumn spring sea ocean island mountain forest road journey return king queen
prince princess empire kingdom castle tower bridge window door letter letters book
library story stories tale tales song songs silence voice voices fire water earth air
star stars moon sun sky cloud storm rain snow wind dream dreams memory memories heart
mind soul body blood bone iron gold silver glass paper ink clock machine engine ship
sailor captain soldier doctor teacher student child children mother father brother
sister daughter son family friend friends stranger enemy hunter traveler pilgrim
merchant thief spy detective murder mystery crime case clue trial justice law order
chaos theory science nature animal animals bird birds horse wolf fox bear whale
garden flower flowers tree trees leaf leaves root seed harvest bread salt wine
kitchen table chair room street village town country nation world universe galaxy
planet mars venus earthbound atlas map compass north south east west morning evening
midnight dawn dusk yesterday tomorrow forever never always last first second third
little great old new young ancient modern lost found hidden broken silent golden
red blue green black white grey yellow purple crimson wild quiet bright brave cruel
gentle strange simple complete short long deep high free true false final hundred
thousand years days hours minutes century generation revolution republic democracy
economics economy history historical historian historic histories politics
philosophy psychology mathematics physics chemistry
biology medicine music painting poetry poems essays letters diary journal notes
introduction guide handbook manual lessons principles foundations elements advanced
practical applied complete collected selected annotated illustrated edition volume
""".split()

RU_WORDS = """
война мир любовь время история дом река сад тайна камень город ночь день свет тьма
зима лето осень весна море океан остров гора лес дорога путь возвращение царь царица
князь княжна империя замок башня мост окно дверь письмо письма книга библиотека
повесть рассказ рассказы сказка сказки песня песни тишина голос огонь вода земля
небо звезда звёзды луна солнце облако буря дождь снег ветер сон сны память сердце
душа мать отец брат сестра дочь сын семья друг друзья враг охотник странник купец
вор преступление наказание суд закон порядок отцы дети мёртвые души идиот бесы
братья карамазовы капитанская дочка герой нашего времени евгений онегин мастер
маргарита собачье сердце белая гвардия тихий дон доктор живаго
""".split()

FIRST_NAMES = """
Anna Boris Clara David Elena Felix Greta Hugo Irina John Karl Lena Mark Nina Oscar
Paula Quinn Rosa Sergei Tanya Ulrich Vera Walter Xenia Yuri Zoe Ivan Olga Pavel Maria
Alexei Daria Mikhail Svetlana Dmitri Natalia Fyodor Leo Anton Ekaterina
""".split()
LAST_NAMES = """
Smith Jones Brown Taylor Wilson Davies Evans Thomas Johnson Roberts Walker Wright
Ivanov Petrov Sidorov Smirnov Kuznetsov Popov Volkov Sokolov Lebedev Kozlov Novikov
Morozov Tolstoy Dostoevsky Chekhov Pushkin Gogol Turgenev Bulgakov Nabokov Pasternak
Austen Dickens Hardy Woolf Joyce Orwell Huxley Tolkien Lewis Christie Doyle Shelley
""".split()
RU_FIRST = "Анна Борис Елена Иван Ольга Павел Мария Алексей Дарья Михаил Светлана".split()
RU_LAST = "Иванов Петров Смирнов Кузнецов Попов Волков Соколов Лебедев Козлов Новиков".split()


def _zipf_weights(n, s=1.0):
    return [1 / (rank + 1) ** s for rank in range(n)]


class Words:
    """Title and name material with a Zipf-like spread (a few words are common)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.en_cum = list(itertools.accumulate(_zipf_weights(len(EN_WORDS), 0.9)))
        self.ru_cum = list(itertools.accumulate(_zipf_weights(len(RU_WORDS), 0.9)))

    def title(self, cyrillic):
        words, cum = (RU_WORDS, self.ru_cum) if cyrillic else (EN_WORDS, self.en_cum)
        picked = self.rng.choices(words, cum_weights=cum, k=self.rng.randint(1, 5))
        title = " ".join(picked)
        return title[0].upper() + title[1:]

    def person(self, cyrillic):
        if cyrillic:
            return f"{self.rng.choice(RU_FIRST)} {self.rng.choice(RU_LAST)}"
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"


def isbn13(book_id):
    """A valid, unique ISBN-13 for a book id (978 + 9 digits + check digit)."""
    body = f"978{book_id:09d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def hyphenated(isbn):
    return f"{isbn[:3]}-{isbn[3]}-{isbn[4:8]}-{isbn[8:12]}-{isbn[12]}"


# ---- rows --------------------------------------------------------------------------


def book_rows(first_id, count, seed=1):
    words = Words(seed * 1_000_003 + first_id)
    rng = words.rng
    for book_id in range(first_id, first_id + count):
        cyrillic = rng.random() < 0.15
        title = words.title(cyrillic)
        author = words.person(cyrillic)
        copies = rng.randint(1, 5)
        at = BASE_TIME - timedelta(days=rng.randint(30, 3000))
        yield (
            book_id,
            title,
            author,
            isbn13(book_id),
            rng.randint(1900, 2025),
            None,
            copies,
            copies,
            search_text(title, author),
            at,
            at,
        )


BOOK_COLUMNS = (
    "id",
    "title",
    "author",
    "isbn",
    "year",
    "description",
    "copies_total",
    "copies_available",
    "search_text",
    "created_at",
    "updated_at",
)


def reader_rows(first_id, count, seed=2):
    words = Words(seed * 1_000_003 + first_id)
    rng = words.rng
    for reader_id in range(first_id, first_id + count):
        cyrillic = rng.random() < 0.3
        name = words.person(cyrillic)
        chat = 500_000_000 + reader_id if rng.random() < 0.3 else None
        at = BASE_TIME - timedelta(days=rng.randint(30, 3000))
        yield (
            reader_id,
            f"{reader_id:08d}",
            name,
            f"reader{reader_id}@example.org",
            None,
            chat,
            "ru" if cyrillic else "en",
            0,
            search_text(name),
            at,
            at,
        )


READER_COLUMNS = (
    "id",
    "card_number",
    "name",
    "email",
    "phone",
    "telegram_chat_id",
    "language",
    "open_loans",
    "search_text",
    "created_at",
    "updated_at",
)

LOAN_COLUMNS = ("id", "book_id", "reader_id", "issued_at", "due_at", "renewals", "issued_by")


# ---- databases ---------------------------------------------------------------------


class Database:
    """One benchmark database: a bench_* database on PostgreSQL or a SQLite file."""

    def __init__(self, kind, name):
        self.kind = kind
        self.name = name
        if kind == "postgresql":
            base = PG_ADMIN_URL.rsplit("/", 1)[0]
            self.url = f"{base}/{name}"  # the app normalizes it to postgresql+psycopg
            self.dsn = self.url
        else:
            self.path = DATA_DIR / f"{name}.db"
            self.url = f"sqlite:///{self.path}"

    def connect(self):
        if self.kind == "postgresql":
            return psycopg.connect(self.dsn)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    # -- lifecycle --
    def drop(self):
        if self.kind == "postgresql":
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        else:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def create(self, template=None):
        """A new, empty database (dropped first if it exists); from `template` if given."""
        self.drop()
        if self.kind == "postgresql":
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                extra = f' TEMPLATE "{template.name}"' if template else ""
                admin.execute(f'CREATE DATABASE "{self.name}"{extra}')
        else:
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            if template:
                shutil.copyfile(template.path, self.path)
        return self

    def migrate(self):
        """The app's own schema: `flask --app wsgi db upgrade`."""
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": self.url, "LIBRARY_ENV": "development"},
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    # -- loading --
    def _timestamp(self, value):
        if value is None or self.kind == "postgresql":
            return value
        # What SQLAlchemy's DateTime writes on SQLite (UTC, no offset; see UTCDateTime).
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def insert(self, table, columns, rows, *, timestamps=()):
        """Bulk-insert `rows` (tuples in `columns` order) in one transaction."""
        ts_index = [columns.index(c) for c in timestamps]
        if self.kind == "postgresql":
            copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with self.connect() as conn, conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        conn = self.connect()
        try:

            def converted():
                for row in rows:
                    if ts_index:
                        row = list(row)
                        for i in ts_index:
                            row[i] = self._timestamp(row[i])
                    yield row

            conn.execute("BEGIN IMMEDIATE")
            marks = ", ".join("?" * len(columns))
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", converted()
            )
            conn.execute("COMMIT")
        finally:
            conn.close()

    def load_books(self, first_id, count):
        self.insert(
            "book",
            BOOK_COLUMNS,
            book_rows(first_id, count),
            timestamps=("created_at", "updated_at"),
        )

    def load_readers(self, first_id, count):
        self.insert(
            "reader",
            READER_COLUMNS,
            reader_rows(first_id, count),
            timestamps=("created_at", "updated_at"),
        )

    def add_librarian(self, password_hash):
        """The benchmark's librarian (admin); returns its id."""
        self.insert(
            "librarian",
            ("id", "email", "name", "password_hash", "is_admin", "is_active", "created_at"),
            [(1, LIBRARIAN_EMAIL, "Bench", password_hash, True, True, BASE_TIME)],
            timestamps=("created_at",),
        )
        return 1

    def fix_sequences(self):
        """After explicit ids: move PostgreSQL's sequences past them (SQLite needs nothing)."""
        if self.kind != "postgresql":
            return
        with self.connect() as conn:
            for table in ("book", "reader", "librarian", "loan", "notification"):
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                )

    def vacuum(self, *tables, analyze=False):
        """PostgreSQL: VACUUM `tables`, or every table when none is named: clears dead
        row versions (what autovacuum does between a production server's busy spells)
        and flushes GIN pending lists; with `analyze`, refreshes statistics too.
        SQLite has no dead row versions to clear: only ANALYZE, when asked."""
        if self.kind == "postgresql":
            command = "VACUUM ANALYZE" if analyze else "VACUUM"
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute(f"{command} {', '.join(tables)}".rstrip())
        elif analyze:
            conn = self.connect()
            try:
                conn.execute("ANALYZE")
            finally:
                conn.close()

    def execute(self, *statements):
        """Run statements in one transaction (SQLite: BEGIN IMMEDIATE)."""
        conn = self.connect()
        try:
            if self.kind == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
            results = [conn.execute(s).rowcount for s in statements]
            conn.execute("COMMIT") if self.kind == "sqlite" else conn.commit()
            return results
        finally:
            conn.close()

    def scalar(self, sql):
        conn = self.connect()
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()

    def size_bytes(self):
        if self.kind == "postgresql":
            return self.scalar(f"SELECT pg_database_size('{self.name}')")
        return sum(
            Path(f"{self.path}{s}").stat().st_size
            for s in ("", "-wal")
            if Path(f"{self.path}{s}").exists()
        )
