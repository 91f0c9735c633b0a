"""Proof that lessons work (lesson checks, output expectations) and how fast (bench, hardware)."""
