"""Where the real text the quality tests read lies (never copied into the repo): the
shared detector data next to the repository, or TAILGUARD_SHARED_DATA. Tests that read it
carry the `shared_data` marker (tests/conftest.py: skipped without it, failed under CI)."""

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("TAILGUARD_SHARED_DATA")
                   or Path(__file__).resolve().parents[2] / "shared" / "data" / "detector")
