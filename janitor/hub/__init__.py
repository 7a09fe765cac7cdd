"""janitor's Docker Hub API client: auth, paging, pacing, typed answers, the namespace inventory.

See ``client.HubClient`` for the calls, ``inventory.iter_inventory`` for the run's view of a
namespace, ``errors`` for what can go wrong and ``models`` for the values returned.
"""

from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.hub.errors import (
    HubAuthError,
    HubError,
    HubForbidden,
    HubNotFound,
    HubProtocolError,
    HubRateLimited,
    HubServerError,
    HubTransportError,
)
from janitor.hub.inventory import iter_inventory

__all__ = [
    "Credentials",
    "HubAuthError",
    "HubClient",
    "HubError",
    "HubForbidden",
    "HubNotFound",
    "HubProtocolError",
    "HubRateLimited",
    "HubServerError",
    "HubTransportError",
    "iter_inventory",
]
