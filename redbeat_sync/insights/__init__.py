"""What a schedule means, beyond how it is written: equivalence, frequency, DST, load.

Nothing here changes what is stored: these modules only read entries and say things
about them (plan notes, warnings, the ``load`` command).
"""

# The ``load`` command's choices, here rather than in ``load``: its options read them
# without loading the schedule arithmetic (CLI start-up, issue 11).
#: The windows ``load`` counts runs over, in minutes.
WINDOWS = {"24h": 24 * 60, "7d": 7 * 24 * 60}
#: Entries starting in the same minute that ``load`` calls a pile-up.
DEFAULT_PILEUP = 10
