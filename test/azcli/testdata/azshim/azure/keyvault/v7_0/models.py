from azure.keyvault.models import *  # noqa
