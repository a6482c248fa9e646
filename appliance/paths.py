"""Where the appliance finds its non-Python parts: they live beside the package in the source tree."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = ROOT / "migrations"
UI_DIR = ROOT / "ui"
PLUGINS_DIR = ROOT / "plugins"
