# az 2.45 runs `keyvault key list/delete/recover/...` through the track-1
# azure-keyvault 1.x client (azure.keyvault.v7_0.key_vault_client), which
# Debian does not ship; the CLI's vendored track-1 copy only has the security
# domain operations. The few operations below are bridged to the track-2
# KeyClient that az already uses for `key create/show` (as later az releases
# do), returning track-1 shaped output. The handler passes `cmd` because
# the functions name it, and builds no track-1 client because they do not
# take `self`. Anything else raises NotImplementedError (az reads doc
# strings from this class).


def _client(cmd, kwargs):
    from azure.cli.command_modules.keyvault._client_factory import data_plane_azure_keyvault_key_client
    return data_plane_azure_keyvault_key_client(cmd.cli_ctx, dict(kwargs))


def _bundle(key):
    from azure.cli.command_modules.keyvault._transformers import transform_key_output
    return transform_key_output(key)


def _deleted(key):
    out = _bundle(key)
    out.update({'recoveryId': key.recovery_id, 'deletedDate': key.deleted_date,
                'scheduledPurgeDate': key.scheduled_purge_date})
    return out


class _Item:  # KeyItem / DeletedKeyItem
    def __init__(self, p, deleted=None):
        self.kid, self.attributes, self.tags, self.managed = p.id, p._attributes, p.tags, p.managed
        if deleted is not None:
            self.recovery_id, self.deleted_date, self.scheduled_purge_date = \
                deleted.recovery_id, deleted.deleted_date, deleted.scheduled_purge_date


class _Meta(type):
    def __getattr__(cls, name):
        def _op(*a, **k):
            """(shim)"""
            raise NotImplementedError(name)
        _op.__name__ = name
        return _op


class KeyVaultClient(metaclass=_Meta):
    def get_keys(cmd, vault_base_url=None, maxresults=None, **kwargs):
        """List keys in the specified vault or HSM."""
        return [_Item(p) for p in _client(cmd, {'vault_base_url': vault_base_url, **kwargs}).list_properties_of_keys()]

    def get_deleted_keys(cmd, vault_base_url=None, maxresults=None, **kwargs):
        """List the deleted keys in the specified vault or HSM."""
        return [_Item(k.properties, k) for k in _client(cmd, {'vault_base_url': vault_base_url, **kwargs}).list_deleted_keys()]

    def delete_key(cmd, vault_base_url=None, key_name=None, **kwargs):
        """Delete a key of any type from storage."""
        return _deleted(_client(cmd, {'vault_base_url': vault_base_url, **kwargs}).begin_delete_key(key_name).result())

    def get_deleted_key(cmd, vault_base_url=None, key_name=None, **kwargs):
        """Get the public part of a deleted key."""
        return _deleted(_client(cmd, {'vault_base_url': vault_base_url, **kwargs}).get_deleted_key(key_name))

    def recover_deleted_key(cmd, vault_base_url=None, key_name=None, **kwargs):
        """Recover the deleted key to its latest version."""
        return _bundle(_client(cmd, {'vault_base_url': vault_base_url, **kwargs}).begin_recover_deleted_key(key_name).result())

    def get_key_versions(cmd, vault_base_url=None, key_name=None, maxresults=None, **kwargs):
        """List the versions of a key."""
        c = _client(cmd, {'vault_base_url': vault_base_url, **kwargs})
        return [_Item(p) for p in c.list_properties_of_key_versions(key_name)]

    def purge_deleted_key(cmd, vault_base_url=None, key_name=None, **kwargs):
        """Permanently delete the specified key."""
        _client(cmd, {'vault_base_url': vault_base_url, **kwargs}).purge_deleted_key(key_name)
