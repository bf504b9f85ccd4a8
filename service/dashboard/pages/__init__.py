"""The dashboard's pages: one module per page, each with ``routes(d) -> list[Route]``."""
