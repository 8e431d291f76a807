"""The engines that compose plugins: collect, report, outbox, events, register, verify, run, webhook, recovery,
backlog and leases.  Each module states its contract; ``ven run`` (:mod:`venclient.engine.run`) ties them together.
"""
