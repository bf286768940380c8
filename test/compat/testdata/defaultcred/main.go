// Command defaultcred is the program a user already has: azidentity's
// DefaultAzureCredential(nil) and azkeys.NewClient on the Managed HSM's
// Azure URL (or the URL given as its argument), default options
// everywhere. It creates an EC key, signs a digest and verifies the
// signature, then prints "ok". test/compat runs it unmodified against mhsm
// in Azure-hostnames mode, and with an ADFS-style challenge on a custom
// domain.
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

func run() error {
	ctx := context.Background()
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return err
	}
	hsmURL := "https://dev.managedhsm.azure.net/"
	if len(os.Args) > 1 {
		hsmURL = os.Args[1]
	}
	client, err := azkeys.NewClient(hsmURL, cred, nil)
	if err != nil {
		return err
	}
	kty, crv := azkeys.KeyTypeECHSM, azkeys.CurveNameP256
	created, err := client.CreateKey(ctx, "defaultcred", azkeys.CreateKeyParameters{Kty: &kty, Curve: &crv}, nil)
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	digest := sha256.Sum256([]byte("drop-in"))
	alg := azkeys.SignatureAlgorithmES256
	sig, err := client.Sign(ctx, "defaultcred", created.Key.KID.Version(), azkeys.SignParameters{Algorithm: &alg, Value: digest[:]}, nil)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	v, err := client.Verify(ctx, "defaultcred", created.Key.KID.Version(), azkeys.VerifyParameters{Algorithm: &alg, Digest: digest[:], Signature: sig.Result}, nil)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if v.Value == nil || !*v.Value {
		return fmt.Errorf("verify said the signature is invalid")
	}
	return nil
}
