"""What a schedule means, beyond how it is written: equivalence, frequency, DST, load.

Nothing here changes what is stored: these modules only read entries and say things
about them (plan notes, warnings, the ``load`` command).
"""
