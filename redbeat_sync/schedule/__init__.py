"""The schedule domain: what an entry is and when it fires, free of files and Redis.

``vocabulary`` holds the names every other layer derives its literals from (solar
events, rrule frequencies, misfire and overlap policies, weekdays, cron fields);
``entry`` the canonical entry; ``timing`` (with ``solar``) when it fires;
``equivalence`` when two schedules fire alike; ``spread`` the ``H`` of a cron field;
``durations`` and ``describe`` the words for them.
"""
