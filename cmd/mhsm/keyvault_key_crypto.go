package main

import (
	"context"
	"encoding/base64"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/wire"
)

// Cryptographic operations with a key of the HSM: sign, verify, encrypt,
// decrypt, wrapkey, unwrapkey, and the HSM's random number generator.
// Inputs and outputs are base64.

func keySignCmd() *cobra.Command {
	var r keyRef
	var alg, digest string
	return dataCmd("sign", "Sign a digest (base64) with a key.", func(cmd *cobra.Command) {
		r.bind(cmd)
		cmd.Flags().StringVarP(&alg, "algorithm", "a", "", "RS256 … PS512, ES256, ES256K, ES384, ES512")
		cmd.Flags().StringVar(&digest, "digest", "", "the digest to sign, base64")
		_ = cmd.MarkFlagRequired("algorithm")
		_ = cmd.MarkFlagRequired("digest")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		d, err := decodeFlagB64("digest", digest)
		if err != nil {
			return nil, err
		}
		var out wire.KeyOperationResult
		if _, err := c.do(ctx, "POST", r.path("sign"), wire.KeySignParameters{Alg: alg, Value: d}, &out); err != nil {
			return nil, err
		}
		return map[string]string{"kid": out.Kid, "algorithm": alg, "signature": base64.StdEncoding.EncodeToString(out.Value)}, nil
	})
}

func keyVerifyCmd() *cobra.Command {
	var r keyRef
	var alg, digest, sig string
	return dataCmd("verify", "Verify a signature (base64) over a digest (base64).", func(cmd *cobra.Command) {
		r.bind(cmd)
		cmd.Flags().StringVarP(&alg, "algorithm", "a", "", "signature algorithm")
		cmd.Flags().StringVar(&digest, "digest", "", "the digest, base64")
		cmd.Flags().StringVar(&sig, "signature", "", "the signature, base64")
		for _, f := range []string{"algorithm", "digest", "signature"} {
			_ = cmd.MarkFlagRequired(f)
		}
	}, func(ctx context.Context, c *dataConn) (any, error) {
		d, err := decodeFlagB64("digest", digest)
		if err != nil {
			return nil, err
		}
		s, err := decodeFlagB64("signature", sig)
		if err != nil {
			return nil, err
		}
		var out wire.KeyVerifyResult
		_, err = c.do(ctx, "POST", r.path("verify"), wire.KeyVerifyParameters{Alg: alg, Digest: d, Signature: s}, &out)
		return map[string]bool{"isValid": out.Value}, err
	})
}

// keyCryptCmd is encrypt, decrypt, wrapkey or unwrapkey; values are base64.
func keyCryptCmd(op string) *cobra.Command {
	var r keyRef
	var alg, value, iv, aad, tag string
	short := map[string]string{"encrypt": "Encrypt a base64 value with a key.", "decrypt": "Decrypt a base64 value with a key.",
		"wrapkey": "Wrap (encrypt) a base64 key with a key.", "unwrapkey": "Unwrap (decrypt) a base64 key with a key."}[op]
	return dataCmd(op, short, func(cmd *cobra.Command) {
		r.bind(cmd)
		f := cmd.Flags()
		f.StringVarP(&alg, "algorithm", "a", "", "RSA-OAEP, RSA-OAEP-256, RSA1_5, A256GCM, A256CBCPAD, A256KW, …")
		f.StringVar(&value, "value", "", "input, base64")
		f.StringVar(&iv, "iv", "", "initialization vector, base64 (CBC; GCM decrypt)")
		f.StringVar(&aad, "aad", "", "additional authenticated data, base64 (GCM)")
		f.StringVar(&tag, "tag", "", "authentication tag, base64 (GCM decrypt)")
		_ = cmd.MarkFlagRequired("algorithm")
		_ = cmd.MarkFlagRequired("value")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		p := wire.KeyOperationsParameters{Alg: alg}
		for _, x := range []struct {
			flag, s string
			dst     *wire.B64
		}{{"value", value, &p.Value}, {"iv", iv, &p.IV}, {"aad", aad, &p.AAD}, {"tag", tag, &p.Tag}} {
			if x.s == "" {
				continue
			}
			b, err := decodeFlagB64(x.flag, x.s)
			if err != nil {
				return nil, err
			}
			*x.dst = b
		}
		var out wire.KeyOperationResult
		if _, err := c.do(ctx, "POST", r.path(op), p, &out); err != nil {
			return nil, err
		}
		res := map[string]string{"kid": out.Kid, "algorithm": alg, "result": base64.StdEncoding.EncodeToString(out.Value)}
		for k, v := range map[string][]byte{"iv": out.IV, "tag": out.Tag, "aad": out.AAD} {
			if len(v) > 0 {
				res[k] = base64.StdEncoding.EncodeToString(v)
			}
		}
		return res, nil
	})
}

func keyRandomCmd() *cobra.Command {
	var count int
	return dataCmd("random", "Get random bytes from the HSM (base64).", func(cmd *cobra.Command) {
		cmd.Flags().IntVar(&count, "count", 32, "number of bytes, 1..128")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		var out wire.RandomBytes
		_, err := c.do(ctx, "POST", "/rng", wire.GetRandomBytesRequest{Count: count}, &out)
		return map[string]string{"value": base64.StdEncoding.EncodeToString(out.Value)}, err
	})
}
