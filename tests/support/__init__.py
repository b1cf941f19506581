"""Helpers shared by the tests: imported, never collected (no test files here)."""
