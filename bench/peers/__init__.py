"""The usual alternatives, run as separate processes on the same logs."""
