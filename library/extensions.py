"""Extensions, created unbound and initialised in the app factory."""

from flask_babel import Babel
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .database import include_in_autogenerate

# Named constraints, so Alembic can alter them (batch mode on SQLite) and an
# IntegrityError names the rule that was broken.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, include_name=include_in_autogenerate)
jwt = JWTManager()
csrf = CSRFProtect()
babel = Babel()
# No default limits: only sign-in is throttled (auth/throttle.py). Storage is Redis
# when REDIS_URL is set (shared by every worker and host), memory otherwise.
limiter = Limiter(key_func=get_remote_address)
