"""Write docs/config.md from zerodown.yaml's JSON Schema (zerodown/config_reference.py).

    .venv/bin/python scripts/config_reference.py      # after changing a key or its words
"""

from pathlib import Path

from zerodown.config import json_schema
from zerodown.config_reference import markdown

PAGE = Path(__file__).resolve().parents[1] / "docs" / "config.md"

if __name__ == "__main__":
    PAGE.write_text(markdown(json_schema()))
    print(f"wrote {PAGE}")
