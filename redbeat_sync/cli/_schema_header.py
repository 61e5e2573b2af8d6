"""The ``$schema`` header of the files export and import write (one rule for both)."""

from __future__ import annotations

from pathlib import Path

from ..fileformat.schema import VENDOR_HINT, vendored_schema_ref
from ._common import echo_err


def schema_ref_for(target: Path) -> str | None:
    """The header's reference for a file written at ``target``; a hint once when none.

    The reference is relative to the file and points at the team's vendored copy, so
    it resolves in every checkout; without a copy no header is written (say how).
    """
    ref = vendored_schema_ref(target)
    if ref is None:
        echo_err(
            "note: no vendored JSON schema found, so no $schema header was written; "
            f"`{VENDOR_HINT}` at the repository root adds one for editors"
        )
    return ref
