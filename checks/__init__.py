"""What is measured and how it is judged. Pure values in, values out: nothing here
imports Textual, httpx, psycopg or the console package (a test enforces it)."""
