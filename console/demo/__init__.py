"""The demo: a simulated service, a seeded 7-day burn-in, and `gonogo demo` itself."""
