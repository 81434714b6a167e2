import sys
from pathlib import Path

# netproc is a helper module of these tests, not a test file.
sys.path.insert(0, str(Path(__file__).parent))
