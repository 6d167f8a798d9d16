"""Alembic migrations of the record store; ``signaling.store.migrate`` runs them on start.

``versions/`` holds one revision per schema change, oldest first: ``0001`` is the schema of
the first release, so every database made since then can be told apart and upgraded.
"""
