"""Forecast web service (``app.application``, a WSGI app served by gunicorn in the image)."""
