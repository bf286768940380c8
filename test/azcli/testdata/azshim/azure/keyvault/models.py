# Placeholders first, then the star import, or the import is circular.
from msrest.serialization import Model as _Model
from azure.keyvault.keys import KeyOperation as JsonWebKeyOperation  # noqa


class _Placeholder(_Model):
    def __init__(self, **kwargs):
        super().__init__(); self.__dict__.update(kwargs)


class JsonWebKey(_Placeholder): pass
class SecretAttributes(_Placeholder): pass
class CertificateAttributes(_Placeholder): pass
class StorageAccountAttributes(_Placeholder): pass
class SasDefinitionAttributes(_Placeholder): pass


import enum as _enum


class SasTokenType(str, _enum.Enum):
    account = 'account'; service = 'service'


from azure.cli.command_modules.keyvault.vendored_sdks.azure_keyvault_t1.v7_2.models import *  # noqa
