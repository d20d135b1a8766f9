"""Librarian accounts and tokens: register, login, logout, me, librarians (SPEC 3)."""

import json
import time
from datetime import timedelta

import flask_jwt_extended.jwt_manager
import pytest
from flask_jwt_extended import JWTManager, create_access_token, decode_token

from library.extensions import db
from library.models import Librarian
from tests.conftest import PASSWORD, ApiClient
from tests.helpers import assert_invalid, assert_problem, assert_utc, ids

LIBRARIAN_KEYS = {"id", "email", "name", "is_admin", "is_active", "created_at"}


NEW_PASSWORD = "long-enough-1"


def register(client, email="new@library.test", password=NEW_PASSWORD, headers=None, **extra):
    body = {"email": email, "password": password, **extra}
    return client.post("/auth/register", json=body, headers=headers)


def login(client, email, password=PASSWORD):
    return client.post("/auth/login", json={"email": email, "password": password})


def as_token(app, token):
    return ApiClient(app, token)


def tampered(token):
    """The same token with one character of its signature changed."""
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[5] != "A" else "B") + signature[6:]
    return ".".join([head, payload, signature[:5] + flipped])


def expired_token(app, librarian):
    with app.app_context():
        return create_access_token(identity=str(librarian.id), expires_delta=timedelta(seconds=-1))


def librarian_count(admin_api):
    return admin_api.get("/librarians").json["total"]


# ---- register: who may ------------------------------------------------------------


def test_first_librarian_registers_without_a_token_and_is_admin(app, anon):
    r = register(anon, "Anna@Library.test", name="  Anna  ")
    assert r.status_code == 201, r.json
    body = r.json
    assert set(body) == LIBRARIAN_KEYS
    assert body["email"] == "anna@library.test"
    assert body["name"] == "Anna"
    assert body["is_admin"] is True and body["is_active"] is True
    assert r.headers["Location"] == f"/api/v1/librarians/{body['id']}"
    # the new account works, and is an admin
    token = login(anon, "anna@library.test", "long-enough-1").json["access_token"]
    me = as_token(app, token).get("/auth/me")
    assert me.json == body
    assert as_token(app, token).get("/librarians").status_code == 200


def test_registration_without_a_token_is_closed_once_someone_exists(anon, admin, admin_api):
    r = register(anon)
    assert_problem(r, 403, "registration_closed")
    assert librarian_count(admin_api) == 1
    assert login(anon, "new@library.test", "long-enough-1").status_code == 401


def test_open_registration_lets_anyone_register_a_plain_librarian(app, anon, admin):
    app.config["REGISTRATION_OPEN"] = True
    r = register(anon)
    assert r.status_code == 201
    assert r.json["is_admin"] is False
    assert login(anon, "new@library.test", "long-enough-1").status_code == 200


def test_an_admin_may_register_librarians_when_closed(admin_api):
    r = register(admin_api, name="Desk Two")
    assert r.status_code == 201
    assert r.json["is_admin"] is False and r.json["name"] == "Desk Two"
    assert librarian_count(admin_api) == 2


def test_a_non_admin_may_not_register_librarians(api, admin_api):
    assert_problem(register(api), 403, "registration_closed")
    assert librarian_count(admin_api) == 2  # admin_api's admin and api's librarian


@pytest.mark.parametrize("registration_open", [False, True])
def test_register_with_an_invalid_token_is_401(app, admin, anon, registration_open):
    app.config["REGISTRATION_OPEN"] = registration_open
    r = register(anon, headers={"Authorization": f"Bearer {tampered(admin.token)}"})
    assert_problem(r, 401, "unauthorized")
    assert login(anon, "new@library.test", "long-enough-1").status_code == 401


def test_register_with_an_expired_admin_token_is_401(app, admin, anon):
    r = register(anon, headers={"Authorization": f"Bearer {expired_token(app, admin)}"})
    assert_problem(r, 401, "token_expired")


def test_register_with_an_invalid_token_is_401_even_for_the_first_librarian(app, anon):
    r = register(anon, headers={"Authorization": "Bearer not.a.token"})
    assert_problem(r, 401, "unauthorized")
    assert register(anon).status_code == 201  # the first registration is still open


def test_register_email_taken_regardless_of_case(admin_api):
    assert register(admin_api, "Mary@Library.test").status_code == 201
    for email in ("mary@library.test", "MARY@LIBRARY.TEST", " mary@library.test "):
        assert_problem(register(admin_api, email), 409, "email_taken")
    assert librarian_count(admin_api) == 2


def test_register_email_of_the_admin_is_taken(admin_api, admin):
    assert_problem(register(admin_api, admin.email), 409, "email_taken")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@library.test", "password": "short77"}, "password"),
        ({"email": "a@library.test", "password": "x" * 129}, "password"),
        ({"email": "a@library.test", "password": 12345678}, "password"),
        ({"email": "a@library.test"}, "password"),
        ({"email": "not-an-email", "password": "long-enough-1"}, "email"),
        ({"email": "a@", "password": "long-enough-1"}, "email"),
        ({"email": "a" * 245 + "@library.test", "password": "long-enough-1"}, "email"),
        ({"password": "long-enough-1"}, "email"),
        ({"email": None, "password": "long-enough-1"}, "email"),
        ({"email": "a@library.test", "password": "long-enough-1", "name": "n" * 301}, "name"),
    ],
)
def test_register_validates_fields(admin_api, body, field):
    assert_invalid(admin_api.post("/auth/register", json=body), field)
    assert librarian_count(admin_api) == 1


@pytest.mark.parametrize("password", ["x" * 8, "ü" * 128, "eight ch"])
def test_password_of_8_to_128_characters_is_accepted(admin_api, anon, password):
    assert register(admin_api, password=password).status_code == 201
    assert login(anon, "new@library.test", password).status_code == 200


def test_register_never_returns_the_password(admin_api):
    r = register(admin_api, password="a-secret-password")
    text = r.get_data(as_text=True)
    assert "a-secret-password" not in text and "argon2" not in text
    assert set(r.json) == LIBRARIAN_KEYS


# ---- login ---------------------------------------------------------------------------


def test_login_with_json_gives_a_bearer_token(app, anon, librarian):
    r = login(anon, librarian.email)
    assert r.status_code == 200
    assert set(r.json) == {"access_token", "token_type", "expires_in"}
    assert r.json["token_type"] == "bearer"
    assert r.json["expires_in"] == 30 * 60
    assert as_token(app, r.json["access_token"]).get("/auth/me").json["id"] == librarian.id


def test_token_lives_30_minutes(app, anon, librarian):
    token = login(anon, librarian.email).json["access_token"]
    with app.app_context():
        payload = decode_token(token)
    assert payload["exp"] - payload["iat"] == 30 * 60


def test_token_lifetime_follows_the_setting(app, anon, librarian):
    app.config["ACCESS_TOKEN_MINUTES"] = 5
    r = login(anon, librarian.email)
    assert r.json["expires_in"] == 300
    with app.app_context():
        payload = decode_token(r.json["access_token"])
    assert payload["exp"] - payload["iat"] == 300


def test_login_with_the_oauth2_password_form(app, anon, librarian):
    r = anon.post("/auth/login", data={"username": librarian.email, "password": PASSWORD})
    assert r.status_code == 200
    assert r.json["token_type"] == "bearer"
    assert as_token(app, r.json["access_token"]).get("/auth/me").status_code == 200


def test_login_form_with_a_wrong_password_is_401(anon, librarian):
    r = anon.post("/auth/login", data={"username": librarian.email, "password": "wrong-pass"})
    assert_problem(r, 401, "invalid_credentials")


def test_login_email_is_not_case_sensitive(anon, librarian):
    assert login(anon, "  DESK@Library.Test ").status_code == 200


def test_unknown_email_and_wrong_password_get_the_same_answer(anon, librarian):
    unknown = login(anon, "nobody@library.test")
    wrong = login(anon, librarian.email, "not the password")
    assert_problem(unknown, 401, "invalid_credentials")
    assert_problem(wrong, 401, "invalid_credentials")
    assert unknown.json == wrong.json
    assert "access_token" not in unknown.json


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "desk@library.test"}, {"password": PASSWORD}, {"email": "", "password": "x"}],
)
def test_login_with_missing_fields_is_422(anon, librarian, body):
    assert_invalid(anon.post("/auth/login", json=body))


def test_deactivated_librarian_with_the_right_password_is_403(anon, make_librarian):
    gone = make_librarian(email="gone@library.test", is_active=False)
    assert_problem(login(anon, gone.email), 403, "account_disabled")
    # a wrong password tells nothing about the account
    assert_problem(login(anon, gone.email, "wrong password"), 401, "invalid_credentials")


# ---- tokens --------------------------------------------------------------------------


def test_logout_revokes_that_token_only(app, anon, librarian):
    first = as_token(app, login(anon, librarian.email).json["access_token"])
    second = as_token(app, login(anon, librarian.email).json["access_token"])
    r = first.post("/auth/logout")
    assert r.status_code == 204 and r.get_data() == b""
    assert_problem(first.get("/auth/me"), 401, "unauthorized")
    assert_problem(first.get("/books"), 401, "unauthorized")
    assert_problem(first.post("/auth/logout"), 401, "unauthorized")
    assert second.get("/auth/me").status_code == 200


def test_logout_without_a_token_is_401(anon):
    assert_problem(anon.post("/auth/logout"), 401, "unauthorized")


def test_expired_token_is_401_token_expired(app, librarian):
    r = as_token(app, expired_token(app, librarian)).get("/auth/me")
    assert_problem(r, 401, "token_expired")
    assert "Bearer" in r.headers["WWW-Authenticate"]


def test_a_token_is_verified_once_and_refused_once_it_expires(app, librarian, monkeypatch):
    """Each app keeps the claims of the tokens it verified (extensions.JWTManager), until
    they expire: the signature is checked once, the expiry every time."""
    with app.app_context():
        token = create_access_token(identity=str(librarian.id), expires_delta=timedelta(seconds=3))
    verified = []
    manager = flask_jwt_extended.jwt_manager  # PyJWT's verifying decode, as it calls it
    decode = manager._decode_jwt
    monkeypatch.setattr(manager, "_decode_jwt", lambda **kw: verified.append(1) or decode(**kw))
    client = as_token(app, token)
    for _ in range(3):
        assert client.get("/auth/me").status_code == 200
    assert len(verified) == 1
    with app.app_context():
        exp = decode_token(token)["exp"]
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    r = client.get("/auth/me")
    assert_problem(r, 401, "token_expired")
    assert len(verified) > 1  # decoded afresh, and refused by PyJWT


def test_tampered_token_is_401(app, librarian):
    assert_problem(as_token(app, tampered(librarian.token)).get("/books"), 401, "unauthorized")


def test_token_signed_with_another_key_is_401(app, librarian):
    other = type(app)(__name__)
    other.config.update(SECRET_KEY="some-other-secret-key-of-sufficient-length")
    JWTManager(other)
    with other.app_context():
        forged = create_access_token(identity=str(librarian.id))
    assert_problem(as_token(app, forged).get("/auth/me"), 401, "unauthorized")


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Bearer abc", "Basic ZGVzazpwYXNz", "Token x.y.z", "Bearer a.b.c.d"],
)
def test_malformed_authorization_header_is_401(anon, header):
    r = anon.get("/auth/me", headers={"Authorization": header})
    assert_problem(r, 401, "unauthorized")


def test_token_of_an_unknown_librarian_is_401(app, librarian):
    with app.app_context():
        for identity in ("999999", "not-a-number", str(2**64)):
            token = create_access_token(identity=identity)
            assert_problem(as_token(app, token).get("/auth/me"), 401, "unauthorized")


def test_deactivation_stops_login_and_every_token(app, anon, admin_api, librarian):
    client = as_token(app, login(anon, librarian.email).json["access_token"])
    assert client.get("/auth/me").status_code == 200
    r = admin_api.post(f"/librarians/{librarian.id}/deactivate")
    assert r.status_code == 204
    assert_problem(client.get("/auth/me"), 401, "unauthorized")
    assert_problem(as_token(app, librarian.token).get("/books"), 401, "unauthorized")
    assert_problem(login(anon, librarian.email), 403, "account_disabled")
    assert admin_api.get(f"/librarians/{librarian.id}").json["is_active"] is False


def test_only_an_admin_may_deactivate(api, admin, admin_api):
    assert_problem(api.post(f"/librarians/{admin.id}/deactivate"), 403, "admin_only")
    assert admin_api.get(f"/librarians/{admin.id}").json["is_active"] is True


def test_deactivating_an_unknown_librarian_is_404(admin_api):
    assert_problem(admin_api.post("/librarians/4242/deactivate"), 404, "librarian_not_found")
    assert_problem(admin_api.post(f"/librarians/{2**63}/deactivate"), 404, "librarian_not_found")


# ---- me and librarians ---------------------------------------------------------------


def test_me_has_the_librarian_shape_and_no_secret(api, librarian):
    r = api.get("/auth/me")
    assert r.status_code == 200
    assert set(r.json) == LIBRARIAN_KEYS
    assert r.json["id"] == librarian.id
    assert r.json["email"] == librarian.email
    assert r.json["is_admin"] is False and r.json["is_active"] is True
    assert "password" not in r.get_data(as_text=True)
    assert "$argon2" not in r.get_data(as_text=True)
    assert_utc(r.json["created_at"])


def test_me_without_a_token_is_401(anon):
    assert_problem(anon.get("/auth/me"), 401, "unauthorized")


def test_librarians_list_is_admin_only(api, anon):
    assert_problem(api.get("/librarians"), 403, "admin_only")
    assert_problem(api.get("/librarians/1"), 403, "admin_only")
    assert_problem(anon.get("/librarians"), 401, "unauthorized")


def test_librarians_list_is_a_page(admin_api, admin, make_librarian):
    others = [make_librarian() for _ in range(3)]
    r = admin_api.get("/librarians")
    assert r.status_code == 200
    assert set(r.json) == {"items", "page", "per_page", "total"}
    assert r.json["page"] == 1 and r.json["per_page"] == 20 and r.json["total"] == 4
    assert ids(r.json) == [admin.id] + [o.id for o in others]
    for item in r.json["items"]:
        assert set(item) == LIBRARIAN_KEYS
        assert_utc(item["created_at"])
    assert "argon2" not in r.get_data(as_text=True)

    second = admin_api.get("/librarians?page=2&per_page=3").json
    assert second["page"] == 2 and second["per_page"] == 3 and second["total"] == 4
    assert ids(second) == [others[-1].id]
    assert admin_api.get("/librarians?page=9").json["items"] == []
    assert_invalid(admin_api.get("/librarians?per_page=101"), "per_page")
    assert_invalid(admin_api.get("/librarians?page=0"), "page")


def test_one_librarian_by_id(admin_api, librarian):
    r = admin_api.get(f"/librarians/{librarian.id}")
    assert r.status_code == 200 and set(r.json) == LIBRARIAN_KEYS
    assert r.json["email"] == librarian.email
    assert_problem(admin_api.get("/librarians/9999"), 404, "librarian_not_found")
    assert_problem(admin_api.get(f"/librarians/{2**64}"), 404, "librarian_not_found")


def _b64(data):
    import base64

    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims_of(token):
    import base64

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_alg_none_token_is_401(app, librarian, alg):
    claims = _claims_of(librarian.token)
    for signature in ("", "AAAA"):
        forged = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}.{signature}"
        assert_problem(as_token(app, forged).get("/auth/me"), 401, "unauthorized")


# The forger signs with the test key, too short for HS512 by PyJWT's advice: its warning
# is about this forged token, not about anything the app does.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_token_with_another_algorithm_is_401(app, librarian):
    import jwt as pyjwt

    claims = _claims_of(librarian.token)
    forged = pyjwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS512")
    assert_problem(as_token(app, forged).get("/auth/me"), 401, "unauthorized")


def test_token_of_a_deleted_librarian_is_401(app, make_librarian):
    gone = make_librarian()
    assert as_token(app, gone.token).get("/auth/me").status_code == 200
    with app.app_context():
        db.session.delete(db.session.get(Librarian, gone.id))
        db.session.commit()
    assert_problem(as_token(app, gone.token).get("/auth/me"), 401, "unauthorized")
    assert_problem(as_token(app, gone.token).get("/books"), 401, "unauthorized")


def test_deactivation_ends_the_pages_session_too(app, admin_api, librarian):
    from tests.test_web import Desk

    desk = Desk(app)
    desk.sign_in(librarian.email)
    assert desk.get("/books").status_code == 200
    assert admin_api.post(f"/librarians/{librarian.id}/deactivate").status_code == 204
    r = desk.get("/books")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
