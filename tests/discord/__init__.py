"""Tests of the Discord door. A subpackage (tests/__init__.py exists), so `import discord`
still finds the library when pytest runs from the repository root."""
