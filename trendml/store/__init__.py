"""Storage: SQLAlchemy tables and the few queries the service and reports need.

``base.py`` holds the declarative ``Base`` and the engine factory (SQLite in WAL mode by
default, any SQLAlchemy URL via ``TRENDML_DATABASE_URL``). Each stage defines its own
tables on that ``Base`` in its own module; :func:`trendml.schema.create_all` creates them (with the
trend state's tables).
"""
