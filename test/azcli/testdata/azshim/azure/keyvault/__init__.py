# A regular package that still spans dist-packages and the CLI's vendored t1 SDK.
__path__ = __import__('pkgutil').extend_path(__path__, __name__)
__path__.append('/usr/lib/python3/dist-packages/azure/cli/command_modules/keyvault/vendored_sdks/azure_keyvault_t1')


def __getattr__(name):  # KeyVaultClient, KeyVaultAuthentication, KeyVaultId... lazily from the vendored SDK
    from azure.cli.command_modules.keyvault.vendored_sdks import azure_keyvault_t1 as t1
    return getattr(t1, name)
