"""Reports: figures (PNG), the self-contained HTML page, and the tables both show."""
