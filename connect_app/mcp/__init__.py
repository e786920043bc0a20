"""Asking from an AI assistant: an MCP server over the same stored reality and the same Jira
permission checks as the panel and the report (INTERFACES section 7)."""
