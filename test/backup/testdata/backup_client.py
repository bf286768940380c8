"""Drives mhsm's full backup API with the unmodified Azure SDK client
azure.keyvault.administration.KeyVaultBackupClient (Debian python3-azure).

Usage: backup_client.py backup | restore-key NAME FOLDER_URL | restore FOLDER_URL
       | restore-expect-failure FOLDER_URL
Environment: MHSM_HSM_URL, MHSM_TOKEN (a data-plane bearer token),
MHSM_CONTAINER_URL, MHSM_SAS, MHSM_RESOLVE (a domain whose hosts resolve to
127.0.0.1), REQUESTS_CA_BUNDLE (the server's CA). Prints one JSON line.
"""
import json
import os
import socket
import sys
import time

_resolve = os.environ.get("MHSM_RESOLVE", "").strip(".").lower()
_orig_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *a, **kw):
    h = host.decode() if isinstance(host, bytes) else host
    if _resolve and isinstance(h, str) and (h.lower() == _resolve or h.lower().endswith("." + _resolve)):
        host = "127.0.0.1"
    return _orig_getaddrinfo(host, *a, **kw)


socket.getaddrinfo = _getaddrinfo

import azure.keyvault.administration as admin  # noqa: E402
from azure.core.credentials import AccessToken  # noqa: E402
from azure.keyvault.administration import KeyVaultBackupClient  # noqa: E402


class StaticToken:
    """A TokenCredential handing out the token the test obtained."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken(os.environ["MHSM_TOKEN"], int(time.time()) + 3600)


def main():
    client = KeyVaultBackupClient(os.environ["MHSM_HSM_URL"], StaticToken())
    sas = os.environ["MHSM_SAS"]
    cmd = sys.argv[1]
    out = {"sdk": admin.__version__ if hasattr(admin, "__version__") else "", "client": "KeyVaultBackupClient"}
    if cmd == "backup":
        poller = client.begin_backup(os.environ["MHSM_CONTAINER_URL"], sas, _polling_interval=1)
        result = poller.result()
        out.update(status=poller.status(), folder_url=result.folder_url)
    elif cmd == "restore-key":
        poller = client.begin_restore(sys.argv[3], sas, key_name=sys.argv[2], _polling_interval=1)
        poller.wait()
        out.update(status=poller.status())
    elif cmd == "restore":
        poller = client.begin_restore(sys.argv[2], sas, _polling_interval=1)
        poller.wait()
        out.update(status=poller.status())
    elif cmd == "restore-expect-failure":
        poller = client.begin_restore(sys.argv[2], sas, _polling_interval=1)
        try:
            poller.result()
            out.update(status=poller.status(), error="")
        except Exception as e:  # the SDK raises on a Failed operation
            out.update(status=poller.status(), error="%s: %s" % (type(e).__name__, e))
    else:
        raise SystemExit("unknown command " + cmd)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
