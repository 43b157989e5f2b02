"""Every diagnostic code the source gives is documented in issues.CODES, and every documented code is given."""

import re
from pathlib import Path

from carescore.issues import CODES

SRC = Path(__file__).resolve().parents[2] / "src" / "carescore"


def test_every_code_is_documented_and_every_documented_code_is_used():
    used = {m for p in SRC.rglob("*.py") if p.name != "issues.py" for m in re.findall(r'"([A-Z]\d{3})"', p.read_text())}
    assert used - set(CODES) == set(), "add these to issues.CODES"
    assert set(CODES) - used == set(), "issues.CODES lists codes no module gives"
