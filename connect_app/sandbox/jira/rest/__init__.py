"""The Jira Cloud REST endpoints the app uses, one module per resource; `app.build_rest_app`
puts them together."""
