"""The production rehearsal: the real images and ``docker-compose.production.yml``, run here.

``scripts/rehearse`` (``python -m deploy.rehearsal``) builds every image without a
registry, starts the stack with the ``paper`` and ``monitoring`` profiles, lets the four
bots trade with their production parameters on the paper exchange while it injects
faults through Docker, drives the backup and the C2, and then checks the ledger against
the exchange's own REST history. The modules, in the order a run uses them:

- ``images``: base image (debootstrap), infrastructure stand-ins, the app image;
- ``stack``: the compose project (its secrets, ``up``, exec, inspect) and its events;
- ``faults``: the faults, each through Docker itself;
- ``operations``: the backup service and the C2 against a fake Bot API container;
- ``observe``: what the verification reads (exchange, ledger, Redis, drift, memory);
- ``checks``: pure functions from those observations to passed/failed checks;
- ``risk_check``: the "risk limits" check (realized equity from the ledger vs the limits);
- ``report``: the printed report and its last line.
"""
