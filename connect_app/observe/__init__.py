"""What operators see: Prometheus metrics and structured logs. Imports nothing of the app, so
every layer may report through it."""
