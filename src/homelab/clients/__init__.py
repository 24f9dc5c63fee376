"""What `homelab up` (pipeline) and `homelab status` share to talk to the live lab: secret masking.

Kept apart from both so neither imports the other: the pipeline reuses status's readiness rules,
and status masks secrets the way the pipeline does.
"""
