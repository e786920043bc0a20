"""The simulated Jira Cloud site: `simulator.JiraSimulator` and what it is made of (the REST
resources under `rest`, the site's state, JQL, ADF, Connect signing, the host pages)."""
