"""The beat scheduler (``celery beat -S redbeat_sync.Scheduler``) and its parts.

config (settings), lock (leader lock), claim (fenced claim script), decide (per
entry rules), dispatch (batched find/load/claim), wakeup (change notifications),
statics (``beat_schedule``), entry (RedBeat's entry API), scheduler, banner.
"""
