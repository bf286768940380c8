# Test-only shim for Debian's azure-cli 2.45 (see /work/shared/reference/clients.md
# section 1.1). Put this directory on PYTHONPATH for az only: it imports
# azure.cli at startup. It shadows Debian's sitecustomize.
import os as _os
import socket as _socket
import inspect as _inspect

# Name resolution without /etc/hosts: every host under MHSM_AZ_RESOLVE
# (e.g. "mhsm.localhost") resolves to 127.0.0.1, so requests connects to
# the test server's loopback listener while TLS still checks the real name.
_resolve = _os.environ.get('MHSM_AZ_RESOLVE', '').strip().lower().strip('.')
if _resolve:
    _orig_getaddrinfo = _socket.getaddrinfo

    def _getaddrinfo(host, *a, **kw):
        h = host.decode() if isinstance(host, bytes) else host
        if isinstance(h, str):
            hl = h.lower().rstrip('.')
            if hl == _resolve or hl.endswith('.' + _resolve):
                host = '127.0.0.1'
        return _orig_getaddrinfo(host, *a, **kw)
    _socket.getaddrinfo = _getaddrinfo

if not hasattr(_inspect, 'getargspec'):          # vendored azure_keyvault_t1 (security-domain)
    _inspect.getargspec = _inspect.getfullargspec
try:
    from azure.cli.core.profiles import _shared as _s
    for _rt in (_s.ResourceType.DATA_KEYVAULT_ADMINISTRATION_BACKUP,
                _s.ResourceType.DATA_KEYVAULT_ADMINISTRATION_ACCESS_CONTROL):
        _s.AZURE_API_PROFILES['latest'][_rt] = _os.environ.get('AZ_SHIM_ADMIN_API_VERSION', '7.2')
    from azure.keyvault.administration import _access_control_client as _acc, _models as _m
    _REN = {'role_scope': 'scope', 'role_assignment_name': 'name', 'role_definition_id': 'definition_id',
            'role_definition_name': 'name'}

    def _wrap(fn):
        def w(self, *a, **kw):
            return fn(self, *a, **{_REN.get(k, k): v for k, v in kw.items()})
        return w
    C = _acc.KeyVaultAccessControlClient
    for _n in ('create_role_assignment', 'delete_role_assignment', 'get_role_assignment', 'list_role_assignments',
               'set_role_definition', 'get_role_definition', 'delete_role_definition', 'list_role_definitions'):
        setattr(C, _n, _wrap(getattr(C, _n)))
    for _a in ('principal_id', 'role_definition_id', 'scope'):
        setattr(_m.KeyVaultRoleAssignment, _a,
                property(lambda self, _a=_a: getattr(self.properties, _a, None) if self.properties else None))
    for _old, _new in (('allowed_actions', 'actions'), ('denied_actions', 'not_actions'),
                       ('allowed_data_actions', 'data_actions'), ('denied_data_actions', 'not_data_actions')):
        setattr(_m.KeyVaultPermission, _old, property(lambda self, _new=_new: getattr(self, _new)))
except ImportError:
    pass
