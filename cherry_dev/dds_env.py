"""The DDS environment every process of this project starts with: the one place that sets it.

Discovery stays on this host (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``): tests, scripts, the
demo and CI must never multicast out of the network interface. Each run gets its own
``ROS_DOMAIN_ID`` so concurrent runs on one machine do not see each other.

Python callers use :func:`apply`; shell scripts ``eval "$(python cherry_dev/dds_env.py)"``
(it imports nothing of the project, so it runs as a plain script from any folder).
The shipped tools set none of this: they take the discovery range the environment gives them.
"""

from __future__ import annotations

import os
import sys

DISCOVERY_RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"
DOMAIN_ID_VAR = "ROS_DOMAIN_ID"
LOCALHOST = "LOCALHOST"
# Fast DDS maps domain ids 0..232 to ports; 1..101 stays clear of Linux's ephemeral port range.
_DOMAIN_ID_RANGE = (1, 101)


def pick_domain_id(seed: int | None = None) -> int:
    """Return a domain id derived from ``seed`` (default: this process id), in 1..101."""
    low, high = _DOMAIN_ID_RANGE
    return low + (os.getpid() if seed is None else seed) % (high - low + 1)


def localhost_env(
    domain_id: int | None = None, base: dict[str, str] | None = None
) -> dict[str, str]:
    """Return ``base`` (default: ``os.environ``) with localhost discovery and a domain id.

    An explicit ``domain_id`` wins; otherwise an already set ``ROS_DOMAIN_ID`` is kept, so a
    test run's child processes share their parent's domain.
    """
    env = dict(os.environ if base is None else base)
    env[DISCOVERY_RANGE_VAR] = LOCALHOST
    if domain_id is not None:
        env[DOMAIN_ID_VAR] = str(domain_id)
    elif not env.get(DOMAIN_ID_VAR):
        env[DOMAIN_ID_VAR] = str(pick_domain_id())
    return env


def apply(domain_id: int | None = None) -> dict[str, str]:
    """Set the localhost DDS environment in this process (call before ``rclpy.init``)."""
    env = localhost_env(domain_id)
    os.environ[DISCOVERY_RANGE_VAR] = env[DISCOVERY_RANGE_VAR]
    os.environ[DOMAIN_ID_VAR] = env[DOMAIN_ID_VAR]
    return env


def shell_exports(domain_id: int | None = None) -> str:
    """Return ``export`` lines for a POSIX shell."""
    env = localhost_env(domain_id)
    return "\n".join(f"export {name}={env[name]}" for name in (DISCOVERY_RANGE_VAR, DOMAIN_ID_VAR))


if __name__ == "__main__":
    print(shell_exports(int(sys.argv[1]) if len(sys.argv) > 1 else None))
