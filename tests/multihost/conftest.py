"""The multi-host bed: hosts as network namespaces (root only; skipped with the reason elsewhere)."""

import sys
from pathlib import Path

# netns_bed and multihost are helper modules of these tests, not test files.
sys.path.insert(0, str(Path(__file__).parent))
