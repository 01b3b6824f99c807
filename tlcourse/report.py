"""What a lesson reports to the course runner: its key metric and whether its claim held."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPORT_VARIABLE = "TLCOURSE_REPORT"


def report_claim(claim: str, ok: bool, metric: str, value: float) -> bool:
    """Print the claim's verdict, save it for `make course` (if it is running us), and return `ok`."""
    print(f"{'OK ' if ok else 'FAILED'}: {claim} ({metric} = {round(value, 3)})")
    target = os.environ.get(REPORT_VARIABLE)
    if target:
        Path(target).write_text(json.dumps({"claim": claim, "ok": bool(ok), "metric": metric, "value": value}))
    return bool(ok)
