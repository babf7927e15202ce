"""Storage of knowledge bases and session snapshots."""
