"""Orchestration-side code: configuration, run folders, ingest stage, CLI."""
