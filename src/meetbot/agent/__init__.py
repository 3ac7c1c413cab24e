"""``meetbot agent``: a runner host of the fleet (wire contract:
:mod:`meetbot.contract.agent_protocol`).

It connects out to the control-plane replicas only (:mod:`.control_client`), reports its
capacity in heartbeats, long-polls for hand-offs and gives each bot to a runner: a real runner
process from a warm pool (:mod:`.processes`) or, with ``--simulate``, a task in this process that
runs the real session code against a simulated meeting (:mod:`.simulated`). The loops and the
drain are in :mod:`.agent`. It imports nothing of :mod:`meetbot.control`.
"""
