"""Redis keys of web-process liveness (see web_instance.py and dead_instance_sweep.py).

Hash tags (one slot each on a Redis Cluster): the instance index, the recorded set and the
`registered` markers share `{web}` (the heartbeat script reads an entry and its marker); an
instance's socket records share its id (the room record is written only while the socket's is there).
"""

from __future__ import annotations

# Hash instance id -> ms (Redis clock) of its last heartbeat.
INSTANCES_KEY = "{web}:instances"
# Set of every instance id that has socket records (SADD with each record): an id here but
# not in INSTANCES_KEY has orphaned records (written after its sweep), which a sweep removes.
RECORDED_INSTANCES_KEY = "{web}:instances:recorded"


def instance_sockets_key(instance_id: str) -> str:
    """Hash sid -> JSON {"userId", "user"}: every socket the instance serves."""
    return f"web:instance:{{{instance_id}}}:sockets"


def instance_rooms_key(instance_id: str) -> str:
    """Hash sid -> room id: the room each of the instance's sockets is (or is joining) in."""
    return f"web:instance:{{{instance_id}}}:rooms"


def instance_sweep_claim_key(instance_id: str) -> str:
    """SET NX PX by the one process sweeping the (dead) instance."""
    return f"web:instance:{{{instance_id}}}:sweeping"


def instance_registered_key(instance_id: str) -> str:
    """Written with every heartbeat (24 h TTL), never by a sweep: an instance whose entry in
    INSTANCES_KEY is gone but whose marker is not was swept; both gone means Redis lost its data."""
    return f"{{web}}:instance:{instance_id}:registered"
