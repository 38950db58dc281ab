"""PostgreSQL: the embedded server, the schema and every query the console runs."""
