"""The GitHub simulator's REST endpoints, one module per resource; `app.build_api_app` puts
them together."""
