"""redbeat-sync: Celery beat schedules as code, on RedBeat's Redis layout."""

__version__ = "0.1.0"
