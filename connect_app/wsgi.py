"""The WSGI entry point gunicorn loads: `gunicorn connect_app.wsgi:app`."""

from connect_app import create_app

# `serve` has already applied migrations before starting gunicorn; running them once per
# gunicorn worker would only race.
app = create_app(migrate=False)
