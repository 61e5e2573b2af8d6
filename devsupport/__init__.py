"""Helpers for working on redbeat-sync from a checkout: a throwaway redis-server
(tests, bench, the demo) and the README's demo.  Not part of the installed package:
nothing here is needed to validate, plan, apply or run beat."""
