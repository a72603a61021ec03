"""Alembic migrations of the hub database: env.py runs them, versions/ holds one file per change."""
