"""Clarion: a self-hosted notification appliance."""
