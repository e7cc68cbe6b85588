"""Robustness tests: hostile input, fuzzing, slow and flood clients, faults (docs/robustness.md)."""
