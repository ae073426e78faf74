"""Progress bars that behave in a terminal, a log file and an executed notebook.

Executed notebooks keep every widget they draw, so a tqdm widget would freeze at "0%"
in the PDF: we always draw plain text bars and drop them when they finish (leave=False)
unless the caller asks to keep them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def bar(iterable: Iterable | None = None, *, desc: str = "", total: int | None = None,
        unit: str = "it", leave: bool = False, disable: bool = False, **kwargs: Any) -> tqdm:
    """A text progress bar on stderr; `UCF_NO_PROGRESS=1` silences all bars."""
    disable = disable or os.environ.get("UCF_NO_PROGRESS", "") not in ("", "0")
    interactive = sys.stderr.isatty()
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        leave=leave,
        file=sys.stderr,
        dynamic_ncols=interactive,
        ncols=None if interactive else 100,
        mininterval=0.1 if interactive else 5.0,
        disable=disable,
        **kwargs,
    )
