"""Sample data for `flask --app wsgi demo seed`: a believable small library."""

from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import exists, select
from stdnum import ean

from . import circulation
from .auth.passwords import hash_password
from .extensions import db
from .models import Book, Librarian, utcnow

# (title, author, year, copies, ISBN-12 stem: the check digit is computed)
BOOKS = [
    ("Война и мир", "Лев Толстой", 1869, 4, "978514011234"),
    ("Анна Каренина", "Лев Толстой", 1878, 3, "978514011235"),
    ("Преступление и наказание", "Фёдор Достоевский", 1866, 3, "978538901221"),
    ("Братья Карамазовы", "Фёдор Достоевский", 1880, 2, "978538901222"),
    ("Идиот", "Фёдор Достоевский", 1869, 2, "978538901223"),
    ("Мастер и Маргарита", "Михаил Булгаков", 1967, 5, "978517087883"),
    ("Собачье сердце", "Михаил Булгаков", 1925, 2, "978517087884"),
    ("Евгений Онегин", "Александр Пушкин", 1833, 3, "978544671010"),
    ("Капитанская дочка", "Александр Пушкин", 1836, 2, "978544671011"),
    ("Мёртвые души", "Николай Гоголь", 1842, 2, "978544671012"),
    ("Отцы и дети", "Иван Тургенев", 1862, 2, "978544671013"),
    ("Герой нашего времени", "Михаил Лермонтов", 1840, 2, "978544671014"),
    ("Обломов", "Иван Гончаров", 1859, 1, "978544671015"),
    ("Вишнёвый сад", "Антон Чехов", 1904, 2, "978544671016"),
    ("Доктор Живаго", "Борис Пастернак", 1957, 1, "978544671017"),
    ("Тихий Дон", "Михаил Шолохов", 1940, 1, "978544671018"),
    ("Двенадцать стульев", "Илья Ильф, Евгений Петров", 1928, 3, "978544671019"),
    ("Пикник на обочине", "Аркадий и Борис Стругацкие", 1972, 2, "978517090010"),
    ("Трудно быть богом", "Аркадий и Борис Стругацкие", 1964, 2, "978517090011"),
    ("Мы", "Евгений Замятин", 1924, 1, "978517090012"),
    ("Pride and Prejudice", "Jane Austen", 1813, 3, "978014143951"),
    ("Emma", "Jane Austen", 1815, 1, "978014143958"),
    ("Great Expectations", "Charles Dickens", 1861, 2, "978014143956"),
    ("A Tale of Two Cities", "Charles Dickens", 1859, 2, "978014143960"),
    ("Nineteen Eighty-Four", "George Orwell", 1949, 4, "978014118776"),
    ("Animal Farm", "George Orwell", 1945, 3, "978014118770"),
    ("To Kill a Mockingbird", "Harper Lee", 1960, 3, "978006112008"),
    ("The Great Gatsby", "F. Scott Fitzgerald", 1925, 2, "978074327356"),
    ("Moby-Dick", "Herman Melville", 1851, 1, "978014243724"),
    ("Jane Eyre", "Charlotte Brontë", 1847, 2, "978014144114"),
    ("Wuthering Heights", "Emily Brontë", 1847, 2, "978014143955"),
    ("The Hobbit", "J. R. R. Tolkien", 1937, 4, "978054792822"),
    ("Brave New World", "Aldous Huxley", 1932, 2, "978006085052"),
    ("Frankenstein", "Mary Shelley", 1818, 1, "978014143947"),
    ("The Catcher in the Rye", "J. D. Salinger", 1951, 1, "978031676948"),
    ("One Hundred Years of Solitude", "Gabriel García Márquez", 1967, 2, "978006088328"),
]

READERS = [
    ("Анна Иванова", "anna.ivanova@example.ru", "ru"),
    ("Дмитрий Смирнов", "d.smirnov@example.ru", "ru"),
    ("Екатерина Кузнецова", "katya.k@example.ru", "ru"),
    ("Сергей Попов", "spopov@example.ru", "ru"),
    ("Ольга Соколова", "olga.sokolova@example.ru", "ru"),
    ("Алексей Лебедев", "alexey.lebedev@example.ru", "ru"),
    ("Мария Новикова", "m.novikova@example.ru", "ru"),
    ("Emily Clarke", "emily.clarke@example.org", "en"),
    ("James Wilson", "jwilson@example.org", "en"),
    ("Sofia Martínez", "sofia.martinez@example.org", "en"),
    ("Oliver Brown", "oliver.brown@example.org", "en"),
    ("Hannah Schmidt", "hannah.schmidt@example.org", "en"),
]


def seed_demo(*, librarian_email, librarian_password):
    """Add the sample library unless the catalog already has books; say what was done."""
    now = utcnow()
    lines = []
    librarian = db.session.scalar(select(Librarian).where(Librarian.email == librarian_email))
    if librarian is None and not db.session.scalar(select(exists().where(Librarian.id > 0))):
        librarian = Librarian(
            email=librarian_email,
            name="Demo Librarian",
            is_admin=True,
            password_hash=hash_password(librarian_password),
            created_at=now,
        )
        db.session.add(librarian)
        db.session.flush()
        lines.append(
            _(
                "Sign in as %(email)s with password %(password)s",
                email=librarian_email,
                password=librarian_password,
            )
        )
    elif librarian is not None:
        lines.append(
            _("Sign in as %(email)s (the password it was seeded with).", email=librarian_email)
        )
    if db.session.scalar(select(exists().where(Book.id > 0))):
        lines.append(_("The catalog already has books: no sample data added."))
        return "\n".join(lines)

    books = [
        circulation.add_book(
            title=t,
            author=a,
            year=y,
            copies_total=c,
            isbn=stem + ean.calc_check_digit(stem),
            now=now,
        )
        for t, a, y, c, stem in BOOKS
    ]
    readers = [
        circulation.add_reader(name=n, email=e, language=lang, now=now) for n, e, lang in READERS
    ]
    actor_id = librarian.id if librarian else None
    # Some history: loans issued over the last weeks, some returned, some overdue.
    for i, reader in enumerate(readers[:9]):
        for j in range(1 + i % 3):
            book = books[(i * 5 + j * 7) % len(books)]
            issued = now - timedelta(days=3 + (i * 4 + j * 6) % 25)
            loan = circulation.issue_loan(book.id, reader.id, now=issued, actor_id=actor_id)
            if (i + j) % 4 == 0:
                circulation.return_loan(loan.id, now=issued + timedelta(days=5), actor_id=actor_id)
    lines.append(
        _(
            "Added %(books)s books and %(readers)s readers, with loans.",
            books=len(books),
            readers=len(readers),
        )
    )
    return "\n".join(lines)
