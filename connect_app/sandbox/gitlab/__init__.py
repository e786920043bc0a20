"""A GitLab simulator for tests and the demo: the REST API v4 over a real git repository, and
webhooks built from GitLab's documented examples."""
