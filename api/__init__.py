"""The HTTP API (Falcon WSGI app) and the ``connector`` command."""
