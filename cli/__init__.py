"""The single ``trendml`` command. Each module here that defines ``register(app)`` adds its
commands; heavy libraries are imported inside the commands, never at module import."""
