package hsm

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/securitydomain"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Security domain: activation and disaster recovery.
//
// A new HSM is not activated (Record.Activated false). Its first security
// domain download — 3 to 10 officer certificates and a quorum — splits a
// fresh master key among the officers, seals the HSM's key-hierarchy root
// (its barrier data key) under it, and activates the HSM. Later downloads
// produce new files protecting the same root.
//
// An HSM that is not activated may instead be recovered: it hands out a
// transfer key (RSA-3072 with a self-signed certificate, the private key
// sealed in the store under the HSM's own data key), and accepts a restore
// blob an operator built offline from a quorum of officer keys and wrapped
// to that transfer key. The recovered root replaces the HSM's own, so every
// key backup and key blob of the original restores here, and the HSM is
// activated. An HSM created with CreateParams.Recovery refuses downloads
// until then.
//
// Activation and recovery replace the live *HSM in the registry with a new
// value (Record and data key are never mutated in place, so readers need no
// lock); callers holding the old value see the old state. Both happen only
// on HSMs that are not activated, whose data plane allows no role writes
// and no key operations, so no concurrent write is lost.

func sdKey(hsm, what string) string { return "hsm/" + hsm + "/sd/" + what }

// opStatus is a stored security-domain operation status.
type opStatus struct {
	Status  string    `json:"status"`
	Details string    `json:"details"`
	Time    time.Time `json:"time"`
}

// transferRecord is the stored transfer key.
type transferRecord struct {
	Cert      []byte `json:"cert"`
	SealedKey []byte `json:"sealedKey"` // PKCS#8, sealed by the HSM's data key
}

func sdConflict(code, format string, a ...any) error {
	return &Error{Kind: KindConflict, Code: code, Message: fmt.Sprintf(format, a...)}
}

// DownloadSecurityDomain makes a security-domain file for the certificates
// in req and activates the HSM if it was not.
//
// Once the HSM is activated, further downloads are refused unless the
// server allows them (Options.AllowSecurityDomainRedownload): the file is
// the key hierarchy root wrapped to whatever certificates the caller
// sends. The stored record decides, not the caller's possibly older *HSM.
func (s *Service) DownloadSecurityDomain(ctx context.Context, h *HSM, req *wire.CertificateInfo) (*wire.SecurityDomainObject, error) {
	if h.Recovery && !h.Activated {
		return nil, sdConflict("SecurityDomainRecoveryPending", "Managed HSM %s was created for recovery: upload its security domain (az keyvault security-domain upload) before downloading one.", h.Name)
	}
	if h.Activated && !s.sdRedown {
		return nil, errAlreadyDownloaded(h)
	}
	certs, err := securitydomain.ParseWrappingKeys(req.Certificates)
	if err != nil {
		return nil, badRequest("%s", publicSDError(err))
	}
	required := 2
	if req.Required != nil {
		required = *req.Required
	}
	if required < securitydomain.MinQuorum || required > securitydomain.MaxQuorum || required > len(certs) {
		return nil, badRequest("required (the quorum) is %d: it must be between %d and %d and at most the number of certificates (%d).",
			required, securitydomain.MinQuorum, securitydomain.MaxQuorum, len(certs))
	}
	root := securitydomain.Root{DomainID: uuid.NewString(), HSM: h.Name, TenantID: h.TenantID, Created: s.now().Unix(), Key: h.dk.Raw()}
	defer clear(root.Key)
	item, err := root.Item()
	if err != nil {
		return nil, err
	}
	defer clear(item.Plaintext)
	file, err := securitydomain.Build([]securitydomain.Item{item}, certs, required)
	if err != nil {
		return nil, badRequest("%s", publicSDError(err))
	}
	st := opStatus{Status: wire.SDStatusSuccess, Time: s.now().UTC(),
		Details: fmt.Sprintf("Security domain %s downloaded: %d officers, quorum %d.", root.DomainID, len(certs), required)}
	_, err = s.updateRecord(ctx, h, nil, func(r *Record) error {
		if r.Recovery && !r.Activated {
			return sdConflict("SecurityDomainRecoveryPending", "Managed HSM %s was created for recovery: upload its security domain first.", h.Name)
		}
		if r.Activated && !s.sdRedown {
			return errAlreadyDownloaded(h)
		}
		r.Activated = true
		return nil
	}, func(tx store.Tx) error { return putJSON(tx, sdKey(h.Name, "download"), &st) })
	if err != nil {
		return nil, err
	}
	return &wire.SecurityDomainObject{Value: string(file)}, nil
}

// TransferKey returns the HSM's transfer key, making it on first use. Only
// an HSM that is not activated has one.
func (s *Service) TransferKey(ctx context.Context, h *HSM) (*wire.TransferKey, error) {
	if h.Activated {
		return nil, errActivated(h)
	}
	var tr transferRecord
	err := s.st.View(ctx, func(tx store.Tx) error { return getJSON(tx, sdKey(h.Name, "transfer"), &tr) })
	if errors.Is(err, store.ErrNotFound) {
		tr, err = s.newTransferKey(ctx, h)
	}
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(tr.Cert)
	if err != nil {
		return nil, fmt.Errorf("hsm %s: stored transfer certificate: %w", h.Name, err)
	}
	jwk, err := securitydomain.TransferKeyJWK(cert, h.BaseURL+"/transfer_key")
	if err != nil {
		return nil, err
	}
	return &wire.TransferKey{KeyFormat: "jwk", TransferKey: jwk}, nil
}

// newTransferKey generates a transfer key and stores it unless a concurrent
// caller stored one first, in which case that one is returned.
func (s *Service) newTransferKey(ctx context.Context, h *HSM) (transferRecord, error) {
	key, cert, err := securitydomain.NewTransferKey(h.Name+" security domain transfer key", s.now())
	if err != nil {
		return transferRecord{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return transferRecord{}, err
	}
	defer clear(der)
	k := sdKey(h.Name, "transfer")
	tr := transferRecord{Cert: cert.Raw, SealedKey: h.dk.Seal(der, []byte(k))}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		var existing transferRecord
		switch err := getJSON(tx, k, &existing); {
		case err == nil:
			tr = existing
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return putJSON(tx, k, &tr)
	})
	return tr, err
}

func (s *Service) loadTransferKey(ctx context.Context, h *HSM) (*rsa.PrivateKey, *x509.Certificate, error) {
	var tr transferRecord
	k := sdKey(h.Name, "transfer")
	err := s.st.View(ctx, func(tx store.Tx) error { return getJSON(tx, k, &tr) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, sdConflict("TransferKeyNotFound", "Managed HSM %s has no transfer key yet: get it first (GET /securitydomain/upload, az keyvault security-domain init-recovery) and build the restore blob for it.", h.Name)
	}
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(tr.Cert)
	if err != nil {
		return nil, nil, fmt.Errorf("hsm %s: stored transfer certificate: %w", h.Name, err)
	}
	der, err := h.dk.Open(tr.SealedKey, []byte(k))
	if err != nil {
		return nil, nil, fmt.Errorf("hsm %s: open transfer key: %w", h.Name, err)
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, nil, fmt.Errorf("hsm %s: transfer key: %w", h.Name, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("hsm %s: transfer key is not RSA", h.Name)
	}
	return rk, cert, nil
}

// UploadSecurityDomain recovers the HSM from a restore blob (the "value" of
// POST /securitydomain/upload): its key-hierarchy root becomes the one in
// the blob and it is activated. Failures are also recorded as the upload
// status.
func (s *Service) UploadSecurityDomain(ctx context.Context, h *HSM, blob string) (*wire.SecurityDomainOperationStatus, error) {
	if h.Activated {
		return nil, errActivated(h)
	}
	st, err := s.upload(ctx, h, blob)
	if err != nil {
		if he, ok := AsError(err); ok && he.Kind == KindBadRequest {
			s.recordUploadFailure(ctx, h, he.Message)
		}
		return nil, err
	}
	return &wire.SecurityDomainOperationStatus{Status: st.Status, StatusDetails: st.Details}, nil
}

func (s *Service) upload(ctx context.Context, h *HSM, blob string) (*opStatus, error) {
	if len(blob) > securitydomain.MaxDocumentBytes {
		return nil, badRequest("The restore blob exceeds %d bytes.", securitydomain.MaxDocumentBytes)
	}
	key, cert, err := s.loadTransferKey(ctx, h)
	if err != nil {
		return nil, err
	}
	items, err := securitydomain.OpenRestoreBlob([]byte(blob), key, cert)
	if err != nil {
		return nil, badRequest("The security domain could not be restored: %s", publicSDError(err))
	}
	defer func() {
		for _, it := range items {
			clear(it.Plaintext)
		}
	}()
	root, err := securitydomain.RootFromItems(items)
	if err != nil {
		return nil, badRequest("The security domain could not be restored: %s", publicSDError(err))
	}
	defer clear(root.Key)
	dk, err := barrier.NewDataKeyFromRaw(root.Key)
	if err != nil {
		return nil, err
	}
	wrapped := s.ring.WrapDataKey(dk)
	st := opStatus{Status: wire.SDStatusSuccess, Time: s.now().UTC(),
		Details: fmt.Sprintf("Recovered the key hierarchy of managed HSM %s (security domain %s).", root.HSM, root.DomainID)}
	_, err = s.updateRecord(ctx, h, dk, func(r *Record) error {
		if r.Activated {
			return errActivated(h)
		}
		r.WrappedKey, r.Activated, r.Recovery = wrapped, true, false
		return nil
	}, func(tx store.Tx) error {
		// Nothing sealed under the old root may survive it.
		if keys, err := tx.List("hsm/"+h.Name+"/key/", "", 1); err != nil {
			return err
		} else if len(keys) > 0 {
			return sdConflict("HSMNotEmpty", "Managed HSM %s holds keys; a security domain can only be restored into an empty HSM.", h.Name)
		}
		if err := tx.Delete(sdKey(h.Name, "transfer")); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return putJSON(tx, sdKey(h.Name, "upload"), &st)
	})
	if err != nil {
		return nil, err
	}
	s.forgetHSM(h.Name)
	slog.Info("security domain restored", "hsm", h.Name, "from", root.HSM, "domain", root.DomainID)
	return &st, nil
}

func (s *Service) recordUploadFailure(ctx context.Context, h *HSM, msg string) {
	st := opStatus{Status: wire.SDStatusFailed, Details: msg, Time: s.now().UTC()}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return putJSON(tx, sdKey(h.Name, "upload"), &st) }); err != nil {
		slog.Error("record security domain upload failure", "hsm", h.Name, "err", err)
	}
}

// SecurityDomainStatus answers the pending endpoints; op is "download" or
// "upload". The upload status falls back to the download status, because
// az 2.45 polls /securitydomain/upload/pending after a download.
func (s *Service) SecurityDomainStatus(ctx context.Context, h *HSM, op string) (*wire.SecurityDomainOperationStatus, error) {
	order := []string{"download"}
	if op == "upload" {
		order = []string{"upload", "download"}
	}
	for _, what := range order {
		var st opStatus
		err := s.st.View(ctx, func(tx store.Tx) error { return getJSON(tx, sdKey(h.Name, what), &st) })
		if err == nil {
			return &wire.SecurityDomainOperationStatus{Status: st.Status, StatusDetails: st.Details}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	if h.Activated {
		return &wire.SecurityDomainOperationStatus{Status: wire.SDStatusSuccess, StatusDetails: "The managed HSM is activated."}, nil
	}
	return nil, notFound("NotFound", "No security domain %s has been made on managed HSM %s.", op, h.Name)
}

// ActivationStatus is the HSM's securityDomainProperties for the management
// plane: activationStatus (Active, NotActivated) and its message.
func (h *HSM) ActivationStatus() (status, message string) {
	switch {
	case h.Activated:
		return "Active", "The Managed HSM is activated: its security domain has been downloaded or restored."
	case h.Recovery:
		return "NotActivated", "The Managed HSM is waiting for a security domain upload (recovery)."
	}
	return "NotActivated", "The Managed HSM is not activated: download its security domain to activate it."
}

func errAlreadyDownloaded(h *HSM) error {
	return sdConflict("SecurityDomainAlreadyDownloaded", "Managed HSM %s is activated: its security domain was downloaded already and this server does not allow another download (mhsm server --allow-security-domain-redownload).", h.Name)
}

func errActivated(h *HSM) error {
	return sdConflict("HSMAlreadyActivated", "Managed HSM %s is already activated: a security domain can only be restored into an HSM that is not.", h.Name)
}

// publicSDError is the caller-facing text of a securitydomain error.
func publicSDError(err error) string {
	if errors.Is(err, securitydomain.ErrDecrypt) {
		return "the restore blob does not decrypt with this HSM's transfer key, or it was altered."
	}
	return strings.TrimPrefix(err.Error(), "securitydomain: ")
}

// updateRecord rewrites h's record with mut (and also, in the same
// transaction) and publishes a new *HSM value for it, with data key dk
// (nil keeps the current one). The new value shares the policy state of the
// old one (policystate.go), so role changes made through either value are
// ordered and seen by both.
func (s *Service) updateRecord(ctx context.Context, h *HSM, dk *barrier.DataKey, mut func(*Record) error, also func(store.Tx) error) (*HSM, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.hsms[h.Name]
	if !ok {
		return nil, hsmNotFound(h.Name)
	}
	var r Record
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := getJSON(tx, "hsmrec/"+h.Name, &r); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return hsmNotFound(h.Name)
			}
			return err
		}
		if err := mut(&r); err != nil {
			return err
		}
		if err := putJSON(tx, "hsmrec/"+h.Name, &r); err != nil {
			return err
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if dk == nil {
		dk = cur.dk
	}
	nh := &HSM{Record: r, BaseURL: cur.BaseURL, dk: dk, pol: cur.pol}
	s.hsms[h.Name] = nh
	return nh, nil
}
