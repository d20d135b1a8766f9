"""Give every untranslated entry of the English catalog its source text.

    .venv/bin/python scripts/fill-english-catalog.py

The strings in the code are English already, so the `en` catalog starts as a copy of
them (`make messages` runs this after `pybabel update`); an entry someone reworded in
the catalog is left as it is. A fuzzy entry (`pybabel update` guessed it from a similar
string) gets its source text too: for the source language, a guess is never better.
Other languages are translated by people.
"""

from pathlib import Path

from babel.messages.pofile import read_po, write_po

CATALOG = (
    Path(__file__).resolve().parent.parent
    / "library"
    / "translations"
    / "en"
    / "LC_MESSAGES"
    / "messages.po"
)


def main():
    with CATALOG.open("rb") as f:
        catalog = read_po(f, locale="en")
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy:
            message.flags.discard("fuzzy")
            message.string = tuple(message.id) if message.pluralizable else message.id
            filled += 1
        elif message.pluralizable:
            if not all(message.string):
                message.string = tuple(message.id)
                filled += 1
        elif not message.string:
            message.string = message.id
            filled += 1
    with CATALOG.open("wb") as f:
        write_po(f, catalog, width=76)
    print(f"{CATALOG}: {filled} entries given their English source text")


if __name__ == "__main__":
    main()
