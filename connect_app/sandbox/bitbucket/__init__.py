"""A Bitbucket Cloud simulator for tests and the demo: the REST API 2.0 over a real git
repository, and webhooks built from Atlassian's documented example payloads."""
