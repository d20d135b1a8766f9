"""Refresh docs/screenshots/ from the demo data, in Debian's chromium.

    .venv/bin/python scripts/screenshots.py

Runs the app on a throw-away SQLite file with `demo seed`, signs in as the demo
librarian and photographs the main pages at desk and phone widths.
"""

import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import Config  # noqa: E402
from library import create_app  # noqa: E402
from library.demo import seed_demo  # noqa: E402
from library.extensions import db  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
EMAIL, PASSWORD = "demo@library.test", "demo-library"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Config, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/demo.db")
        with app.app_context():
            import flask_migrate

            flask_migrate.upgrade()
            seed_demo(librarian_email=EMAIL, librarian_password=PASSWORD)
            db.session.commit()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            for name, width in (("desk", 1280), ("phone", 360)):
                page = browser.new_page(base_url=base, viewport={"width": width, "height": 800})
                page.goto("/login")
                page.get_by_label("Email", exact=True).fill(EMAIL)
                page.get_by_label("Password", exact=True).fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{base}/")
                shots = {"dashboard": "/", "books": "/books?q=толстой", "loans": "/loans"}
                if name == "phone":
                    shots = {"phone-dashboard": "/"}
                for shot, url in shots.items():
                    page.goto(url)
                    page.screenshot(path=str(OUT / f"{shot}.png"), full_page=True)
                if name == "desk":
                    page.goto("/readers")
                    page.locator("#results tbody tr a").first.click()
                    page.screenshot(path=str(OUT / "reader.png"), full_page=True)
                page.close()
            browser.close()
        server.shutdown()
    print("screenshots in", OUT)


if __name__ == "__main__":
    main()
