"""The hub's database: engine and transactions (engine.py), the tables (schema.py), their migrations."""
