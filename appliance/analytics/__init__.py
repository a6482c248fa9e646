"""Delivery analytics: hourly rollups of deliveries, and the figures the dashboard and API read."""
