package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/wire"
)

// mhsm keyvault key …: key commands named as az keyvault key's, against an
// HSM's data plane (conn.go). Crypto operations are in
// keyvault_key_crypto.go, list-expiring in keyvault_key_expiring.go.

func keyvaultKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage keys of a managed HSM: create, import, rotate, back up, and use them."}
	cmd.AddCommand(keyListExpiringCmd())
	cmd.AddCommand(keyCmds()...)
	return cmd
}

// addVersionCount adds "versions" (how many versions the key has) to a
// key bundle or list item when the result prints as a table, which shows
// it; JSON output keeps the service's shape.
func addVersionCount(ctx context.Context, c *dataConn, bundle map[string]any) error {
	if !c.tableView || bundle == nil {
		return nil
	}
	kid, _ := bundle["kid"].(string)
	if k, ok := bundle["key"].(map[string]any); ok {
		kid, _ = k["kid"].(string)
	}
	if _, deleted := bundle["recoveryId"]; deleted || kid == "" {
		return nil
	}
	vs, err := listPages[wire.KeyItem](ctx, c, "/keys/"+keyName(kid)+"/versions")
	if err != nil {
		return err
	}
	bundle["versions"] = len(vs)
	return nil
}

// keyRef names a key and optionally a version.
type keyRef struct{ name, version string }

func (k *keyRef) bind(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&k.name, "name", "n", "", "key name")
	cmd.Flags().StringVar(&k.version, "version", "", "key version (default: the latest)")
	_ = cmd.MarkFlagRequired("name")
}

func (k *keyRef) path(op string) string {
	p := "/keys/" + k.name
	if k.version != "" {
		p += "/" + k.version
	}
	if op != "" {
		p += "/" + op
	}
	return p
}

// keyAttrs are the attribute flags of create, import and set-attributes.
type keyAttrs struct {
	ops             []string
	tags            []string
	expires, notBef string
	enabled         string
}

func (a *keyAttrs) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceVar(&a.ops, "ops", nil, "permitted key operations: encrypt decrypt sign verify wrapKey unwrapKey import")
	f.StringSliceVar(&a.tags, "tags", nil, "tags as key=value")
	f.StringVar(&a.expires, "expires", "", "expiry (RFC 3339, e.g. 2027-01-31T00:00:00Z)")
	f.StringVar(&a.notBef, "not-before", "", "not valid before (RFC 3339)")
	f.StringVar(&a.enabled, "enabled", "", "true or false")
}

func (a *keyAttrs) attributes() (*wire.KeyAttributes, map[string]string, error) {
	attrs := &wire.KeyAttributes{}
	for _, t := range []struct {
		s   string
		dst **int64
	}{{a.expires, &attrs.Expires}, {a.notBef, &attrs.NotBefore}} {
		if t.s == "" {
			continue
		}
		tm, err := time.Parse(time.RFC3339, t.s)
		if err != nil {
			return nil, nil, fmt.Errorf("%q is not an RFC 3339 time", t.s)
		}
		u := tm.Unix()
		*t.dst = &u
	}
	switch a.enabled {
	case "":
	case "true", "false":
		b := a.enabled == "true"
		attrs.Enabled = &b
	default:
		return nil, nil, errors.New("--enabled is true or false")
	}
	var tags map[string]string
	for _, t := range a.tags {
		k, v, _ := strings.Cut(t, "=")
		if tags == nil {
			tags = map[string]string{}
		}
		tags[k] = v
	}
	return attrs, tags, nil
}

func decodeFlagB64(flag, s string) ([]byte, error) {
	b, err := keys.DecodeB64(s)
	if err != nil {
		return nil, fmt.Errorf("--%s is not base64: %w", flag, err)
	}
	return b, nil
}

// keyCmds are the key commands of az keyvault key, against the data plane.
func keyCmds() []*cobra.Command {
	var ref keyRef
	get := func(use, short, method, op string) *cobra.Command {
		var r keyRef
		return dataCmd(use, short, r.bind, func(ctx context.Context, c *dataConn) (any, error) {
			var out map[string]any
			if _, err := c.do(ctx, method, r.path(op), nil, &out); err != nil {
				return nil, err
			}
			return out, addVersionCount(ctx, c, out)
		})
	}
	byName := func(use, short, method, path string) *cobra.Command {
		var name string
		return dataCmd(use, short, func(cmd *cobra.Command) {
			cmd.Flags().StringVarP(&name, "name", "n", "", "key name")
			_ = cmd.MarkFlagRequired("name")
		}, func(ctx context.Context, c *dataConn) (any, error) {
			var out map[string]any
			if _, err := c.do(ctx, method, strings.ReplaceAll(path, "{name}", name), nil, &out); err != nil {
				return nil, err
			}
			return out, addVersionCount(ctx, c, out)
		})
	}
	return []*cobra.Command{
		keyCreateCmd(),
		keyImportCmd(),
		get("show", "Show a key (the latest version unless --version).", "GET", ""),
		dataCmd("list", "List the keys.", nil, func(ctx context.Context, c *dataConn) (any, error) {
			items, err := listPages[map[string]any](ctx, c, "/keys")
			if err != nil || !c.tableView {
				return items, err
			}
			for _, it := range items { // the table shows each key's type and version count
				kid, _ := it["kid"].(string)
				var k struct {
					Key struct{ Kty string } `json:"key"`
				}
				if _, err := c.do(ctx, "GET", "/keys/"+keyName(kid), nil, &k); err != nil {
					return nil, err
				}
				it["kty"] = k.Key.Kty
				if err := addVersionCount(ctx, c, it); err != nil {
					return nil, err
				}
			}
			return items, nil
		}),
		dataCmd("list-versions", "List the versions of a key.", ref.bind, func(ctx context.Context, c *dataConn) (any, error) {
			return listPages[wire.KeyItem](ctx, c, "/keys/"+ref.name+"/versions")
		}),
		byName("delete", "Soft-delete a key (recoverable until purged).", "DELETE", "/keys/{name}"),
		byName("recover", "Recover a soft-deleted key.", "POST", "/deletedkeys/{name}/recover"),
		byName("purge", "Permanently delete a soft-deleted key.", "DELETE", "/deletedkeys/{name}"),
		byName("show-deleted", "Show a soft-deleted key.", "GET", "/deletedkeys/{name}"),
		dataCmd("list-deleted", "List soft-deleted keys.", nil, func(ctx context.Context, c *dataConn) (any, error) {
			return listPages[wire.DeletedKeyItem](ctx, c, "/deletedkeys")
		}),
		byName("rotate", "Rotate a key now (a rotation policy must be set).", "POST", "/keys/{name}/rotate"),
		keySetAttributesCmd(), keyRotationPolicyCmd(), keyBackupCmd(), keyRestoreCmd(),
		keySignCmd(), keyVerifyCmd(), keyCryptCmd("encrypt"), keyCryptCmd("decrypt"),
		keyCryptCmd("wrapkey"), keyCryptCmd("unwrapkey"), keyRandomCmd(),
	}
}

func keyCreateCmd() *cobra.Command {
	var name, kty, curve, policyFile string
	var size int
	var exportable bool
	var a keyAttrs
	return dataCmd("create", "Create a key, or a new version of one.", func(cmd *cobra.Command) {
		f := cmd.Flags()
		f.StringVarP(&name, "name", "n", "", "key name")
		f.StringVar(&kty, "kty", "RSA-HSM", "key type: RSA-HSM, EC-HSM or oct-HSM")
		f.IntVar(&size, "size", 0, "RSA: 2048, 3072, 4096; oct: 128, 192, 256")
		f.StringVar(&curve, "curve", "", "EC curve: P-256, P-256K, P-384, P-521")
		f.BoolVar(&exportable, "exportable", false, "the key may be released (needs --policy)")
		f.StringVar(&policyFile, "policy", "", "release policy JSON file")
		a.bind(cmd)
		_ = cmd.MarkFlagRequired("name")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		attrs, tags, err := a.attributes()
		if err != nil {
			return nil, err
		}
		p := wire.KeyCreateParameters{Kty: kty, Curve: curve, KeyOps: a.ops, Attributes: attrs, Tags: tags}
		if size != 0 {
			p.KeySize = &size
		}
		if exportable {
			attrs.Exportable = &exportable
		}
		if policyFile != "" {
			data, err := os.ReadFile(policyFile)
			if err != nil {
				return nil, err
			}
			p.ReleasePolicy = &wire.KeyReleasePolicy{ContentType: "application/json; charset=utf-8", Data: data}
		}
		var out map[string]any
		if _, err = c.do(ctx, "POST", "/keys/"+name+"/create", p, &out); err != nil {
			return nil, err
		}
		return out, addVersionCount(ctx, c, out)
	})
}

func keyImportCmd() *cobra.Command {
	var name, pemFile, byokFile, kty, curve string
	var a keyAttrs
	return dataCmd("import", "Import a private key from a PEM file (PKCS#8, PKCS#1 or SEC 1) or a BYOK blob.", func(cmd *cobra.Command) {
		f := cmd.Flags()
		f.StringVarP(&name, "name", "n", "", "key name")
		f.StringVar(&pemFile, "pem-file", "", "PEM private key")
		f.StringVar(&byokFile, "byok-file", "", "BYOK transfer blob (.byok) made for an import-only RSA key of this HSM")
		f.StringVar(&kty, "kty", "", "with --byok-file: RSA-HSM, EC-HSM or oct-HSM")
		f.StringVar(&curve, "curve", "", "with --byok-file and EC-HSM: the curve")
		a.bind(cmd)
		_ = cmd.MarkFlagRequired("name")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		attrs, tags, err := a.attributes()
		if err != nil {
			return nil, err
		}
		var jwk keys.JSONWebKey
		switch {
		case pemFile != "" && byokFile == "":
			m, err := materialFromPEM(pemFile)
			if err != nil {
				return nil, err
			}
			defer m.Zero()
			jwk = m.PrivateJWK()
		case byokFile != "" && pemFile == "":
			blob, err := os.ReadFile(byokFile)
			if err != nil {
				return nil, err
			}
			jwk = keys.JSONWebKey{Kty: kty, Crv: curve, KeyHSM: blob}
		default:
			return nil, errors.New("give exactly one of --pem-file and --byok-file")
		}
		jwk.KeyOps = a.ops
		var out map[string]any
		_, err = c.do(ctx, "PUT", "/keys/"+name, wire.KeyImportParameters{Key: &jwk, Attributes: attrs, Tags: tags}, &out)
		return out, err
	})
}

// materialFromPEM reads an unencrypted PEM private key.
func materialFromPEM(path string) (*keys.Material, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	der := blk.Bytes
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return nil, err
		}
		der, _ = x509.MarshalPKCS8PrivateKey(k)
		return keys.FromPKCS8(keys.KtyRSA, der)
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(der)
		if err != nil {
			return nil, err
		}
		der, _ = x509.MarshalPKCS8PrivateKey(k)
		return keys.FromPKCS8(keys.KtyEC, der)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, err
		}
		kty := keys.KtyRSA
		if _, ok := k.(*ecdsa.PrivateKey); ok {
			kty = keys.KtyEC
		}
		return keys.FromPKCS8(kty, der)
	}
	return nil, fmt.Errorf("%s: PEM type %q is not a private key (encrypted keys are not supported)", path, blk.Type)
}

func keySetAttributesCmd() *cobra.Command {
	var r keyRef
	var a keyAttrs
	return dataCmd("set-attributes", "Change a key version's enabled, expires, not-before, ops or tags.", func(cmd *cobra.Command) {
		r.bind(cmd)
		a.bind(cmd)
	}, func(ctx context.Context, c *dataConn) (any, error) {
		attrs, tags, err := a.attributes()
		if err != nil {
			return nil, err
		}
		var out map[string]any
		_, err = c.do(ctx, "PATCH", r.path(""), wire.KeyUpdateParameters{KeyOps: a.ops, Attributes: attrs, Tags: tags}, &out)
		return out, err
	})
}

func keyRotationPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "rotation-policy", Short: "Show or set a key's rotation policy"}
	var name, value string
	bindName := func(cmd *cobra.Command) {
		cmd.Flags().StringVarP(&name, "name", "n", "", "key name")
		_ = cmd.MarkFlagRequired("name")
	}
	cmd.AddCommand(
		dataCmd("show", "Show the rotation policy.", bindName, func(ctx context.Context, c *dataConn) (any, error) {
			var out map[string]any
			_, err := c.do(ctx, "GET", "/keys/"+name+"/rotationpolicy", nil, &out)
			return out, err
		}),
		dataCmd("update", "Set the rotation policy from JSON (--value @file or inline).", func(cmd *cobra.Command) {
			bindName(cmd)
			cmd.Flags().StringVar(&value, "value", "", `policy JSON, or @file; e.g. {"lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P1Y"}}`)
			_ = cmd.MarkFlagRequired("value")
		}, func(ctx context.Context, c *dataConn) (any, error) {
			raw := []byte(value)
			if f, ok := strings.CutPrefix(value, "@"); ok {
				var err error
				if raw, err = os.ReadFile(f); err != nil {
					return nil, err
				}
			}
			var p wire.KeyRotationPolicy
			if err := jsonStrict(raw, &p); err != nil {
				return nil, fmt.Errorf("--value: %w", err)
			}
			var out map[string]any
			_, err := c.do(ctx, "PUT", "/keys/"+name+"/rotationpolicy", p, &out)
			return out, err
		}),
	)
	return cmd
}

func keyBackupCmd() *cobra.Command {
	var name, file string
	return dataCmd("backup", "Back up every version of a key to a file (restorable only into an HSM of the same security domain).", func(cmd *cobra.Command) {
		cmd.Flags().StringVarP(&name, "name", "n", "", "key name")
		cmd.Flags().StringVarP(&file, "file", "f", "", "file to write (must not exist)")
		_ = cmd.MarkFlagRequired("name")
		_ = cmd.MarkFlagRequired("file")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		var out wire.BackupKeyResult
		if _, err := c.do(ctx, "POST", "/keys/"+name+"/backup", nil, &out); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(out.Value); err != nil {
			f.Close()
			return nil, err
		}
		return nil, f.Close()
	})
}

func keyRestoreCmd() *cobra.Command {
	var file string
	return dataCmd("restore", "Restore a key from a backup file.", func(cmd *cobra.Command) {
		cmd.Flags().StringVarP(&file, "file", "f", "", "backup file")
		_ = cmd.MarkFlagRequired("file")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		blob, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var out map[string]any
		_, err = c.do(ctx, "POST", "/keys/restore", wire.KeyRestoreParameters{Value: blob}, &out)
		return out, err
	})
}

// jsonStrict decodes one JSON value, refusing unknown fields and trailing
// data.
func jsonStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}
