"""Long-budget fuzzing of lint, the edit round trip and the hook dispatcher (see run_long.py)."""
