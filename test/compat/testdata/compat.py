"""Debian python3-azure, unmodified, against mhsm in Azure-hostnames mode.

Default options everywhere: DefaultAzureCredential() (EnvironmentCredential
from AZURE_CLIENT_ID/SECRET/TENANT_ID, authority login.microsoftonline.com,
MSAL instance discovery on), the HSM's Azure URL, the CA trusted through
REQUESTS_CA_BUNDLE. MHSM_COMPAT_UPN/PASSWORD name a test user for the
username/password sign-in, MHSM_COMPAT_PRINCIPAL one with no role. Prints one JSON object: each step's "ok" or error.
"""
import base64
import hashlib
import json
import os
import sys
import traceback

from azure.identity import DefaultAzureCredential, UsernamePasswordCredential
from azure.keyvault.keys import KeyClient, KeyRotationPolicyAction
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from azure.keyvault.administration import (KeyVaultAccessControlClient, KeyVaultRoleScope,
                                           KeyVaultSettingsClient)

URL = "https://dev.managedhsm.azure.net"
RESOURCE = "https://managedhsm.azure.net/.default"
steps, facts = {}, {}


def step(name):
    def deco(fn):
        try:
            fn()
            steps[name] = "ok"
        except Exception as e:  # noqa: BLE001 - every failure is reported
            steps[name] = "%s: %s | %s" % (type(e).__name__, e, traceback.format_exc().splitlines()[-3:])
        return fn
    return deco


def claims(tok):
    p = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


cred = DefaultAzureCredential()
keys = KeyClient(URL, cred)
state = {}


@step("defaultAzureCredentialToken")
def _():
    state["oid"] = claims(cred.get_token(RESOURCE).token)["oid"]


@step("createGetListKeys")
def _():
    rsa = keys.create_rsa_key("py-rsa", size=2048)
    ec = keys.create_ec_key("py-ec", curve="P-256")
    assert keys.get_key("py-rsa").id == rsa.id
    names = {p.name for p in keys.list_properties_of_keys()}
    assert {"py-rsa", "py-ec"} <= names, names
    state["ec"] = ec


@step("signVerify")
def _():
    cc = CryptographyClient(state["ec"], cred)
    digest = hashlib.sha256(b"drop-in").digest()
    sig = cc.sign(SignatureAlgorithm.es256, digest)
    assert cc.verify(SignatureAlgorithm.es256, digest, sig.signature).is_valid


@step("defaultRotationPolicy")
def _():
    p = keys.get_key_rotation_policy("py-rsa")
    acts = p.lifetime_actions
    assert len(acts) == 1, acts
    assert acts[0].action == KeyRotationPolicyAction.notify, acts[0].action
    assert acts[0].time_before_expiry == "P30D" and acts[0].time_after_create is None, vars(acts[0])
    assert p.expires_in is None, p.expires_in


@step("rotateWithoutPolicy")
def _():
    before = keys.get_key("py-rsa").properties.version
    rotated = keys.rotate_key("py-rsa")
    assert rotated.properties.version != before
    assert keys.get_key("py-rsa").properties.version == rotated.properties.version


@step("roleAssignmentsKeysScope")
def _():
    ac = KeyVaultAccessControlClient(URL, cred)
    defs = {d.role_name: d for d in ac.list_role_definitions(KeyVaultRoleScope.GLOBAL)}
    user = defs["Managed HSM Crypto User"]
    principal = os.environ["MHSM_COMPAT_PRINCIPAL"]  # a user with no role yet
    at_keys = ac.create_role_assignment(KeyVaultRoleScope.KEYS, user.id, principal)
    at_root = ac.create_role_assignment(KeyVaultRoleScope.GLOBAL, user.id, principal)
    try:
        assert at_keys.properties.scope == "/keys", at_keys.properties.scope
        assert at_root.properties.scope == "/", at_root.properties.scope
        got = ac.get_role_assignment(KeyVaultRoleScope.KEYS, at_keys.name)
        assert got.properties.scope == "/keys", got.properties.scope
        listed = {a.name: a.properties.scope for a in ac.list_role_assignments(KeyVaultRoleScope.KEYS)}
        assert listed.get(at_keys.name) == "/keys" and at_root.name not in listed, listed
        listed_root = {a.name for a in ac.list_role_assignments(KeyVaultRoleScope.GLOBAL)}
        assert at_root.name in listed_root and at_keys.name not in listed_root, listed_root
    finally:
        ac.delete_role_assignment(KeyVaultRoleScope.KEYS, at_keys.name)
        ac.delete_role_assignment(KeyVaultRoleScope.GLOBAL, at_root.name)


@step("settings")
def _():
    sc = KeyVaultSettingsClient(URL, cred)
    settings = list(sc.list_settings())
    assert settings, "no settings"
    facts["settings"] = sorted(s.name for s in settings)


@step("usernamePasswordCredential")
def _():
    upc = UsernamePasswordCredential("04b07795-8ddb-461a-bbee-02f9e1bf7b46", os.environ["MHSM_COMPAT_UPN"],
                                     os.environ["MHSM_COMPAT_PASSWORD"], tenant_id=os.environ["AZURE_TENANT_ID"])
    c = claims(upc.get_token(RESOURCE).token)
    assert c.get("idtyp") == "user" and c.get("upn") == os.environ["MHSM_COMPAT_UPN"], c
    assert any(True for _ in KeyClient(URL, upc).list_properties_of_keys())


json.dump({"steps": steps, "facts": facts}, sys.stdout)
