"""Everything the appliance imports at run time is in the runtime lock, not only in the dev one.

`make run` and the Docker image install requirements/runtime.txt alone; a package that only
the test tools pull in would work here and crash on a fresh machine (it happened: `requests`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPTIONAL = {"apprise"}  # the `clarion[apprise]` extra; its provider names the install when missing

# Run in a fresh interpreter, so only what the appliance itself imports is counted.
PROBE = """
import importlib, json, pkgutil, sys
from importlib.metadata import packages_distributions
import appliance
for module in pkgutil.walk_packages(appliance.__path__, "appliance."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
owners = packages_distributions()
tops = {name.split(".")[0] for name in sys.modules} - set(sys.stdlib_module_names) - {"_distutils_hack"}
print(json.dumps(sorted({dist for top in tops for dist in owners.get(top, [])})))
"""


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_distribution_the_appliance_imports_is_in_the_runtime_lock() -> None:
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT)
    assert probe.returncode == 0, probe.stderr
    imported = {normalized(dist) for dist in json.loads(probe.stdout)} - {"clarion", *OPTIONAL}
    lock = (ROOT / "requirements" / "runtime.txt").read_text()
    locked = {normalized(name) for name in re.findall(r"^([A-Za-z0-9_.-]+)==", lock, flags=re.MULTILINE)}
    assert imported - locked == set(), "imported at run time but missing from requirements/runtime.txt"
