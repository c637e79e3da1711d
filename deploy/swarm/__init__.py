"""Alpha on Docker Swarm: the production compose file as Swarm stack files, and a proof.

``python -m deploy.swarm.generate`` writes ``stack.yml`` (the services), ``paper.yml`` (the
paper exchange) and ``monitoring.yml`` (Prometheus, Grafana) next to this file from
``docker-compose.production.yml``, so the two never drift apart (a test compares them).
``python -m deploy.swarm`` (``scripts/swarm-rehearse``) deploys them on a single-node swarm
here, kills the listener's task, and checks that nothing was lost (deploy/README.md).
"""
