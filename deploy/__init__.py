"""Deployment: the compose file's checks (compose_check) and the production rehearsal."""
