"""``python -m bench.worker TOOL TASK JSON``: run one task of one tool in this fresh process and
print its result as the last line of output (``BENCH-RESULT {...}``)."""

from __future__ import annotations

import importlib
import json
import sys

from .tools import MODULES


def main() -> None:
    tool, task, arguments = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    module = importlib.import_module(f"bench.tools.{MODULES[tool]}")
    result = getattr(module, task)(**arguments)
    sys.stdout.write("\nBENCH-RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
