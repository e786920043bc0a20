"""The simulated GitHub: `simulator.GitHubSimulator` over a real git repository (`gitrepo`),
its REST API (`api`) and webhook payloads (`payloads`)."""
