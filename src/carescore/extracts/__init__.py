"""Extracts: source files to canonical tables typed by their contracts (canonical files, Synthea, the demo)."""
