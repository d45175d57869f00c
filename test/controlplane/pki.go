package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the files the apiserver is started with, plus the admin client identity that goes
// into the kubeconfig. One throwaway CA signs both the serving and the client certificate.
type pki struct {
	caCert                    string // file: CA certificate (serving trust root and client CA)
	servingCert               string // file
	servingKey                string // file
	serviceAccountKey         string // file: RSA private key, verifies and signs service account tokens
	caPEM                     []byte
	adminCertPEM, adminKeyPEM []byte
}

func writePKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pki{
		caCert:            filepath.Join(dir, "ca.crt"),
		servingCert:       filepath.Join(dir, "apiserver.crt"),
		servingKey:        filepath.Join(dir, "apiserver.key"),
		serviceAccountKey: filepath.Join(dir, "service-account.key"),
	}

	caKey, caDER, err := newCert(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "kube-controlplane-ca"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p.caPEM = pemBlock("CERTIFICATE", caDER)

	// Names a client may use for this apiserver: from the host, and (for completeness) the
	// in-cluster service name and the first service IP, as a real apiserver certificate has.
	servingKey, servingDER, err := newCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 0, 0, 1)},
	}, caCert, caKey)
	if err != nil {
		return nil, err
	}

	// Group system:masters is bound to cluster-admin by the bootstrap RBAC policy.
	adminKey, adminDER, err := newCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, caKey)
	if err != nil {
		return nil, err
	}
	p.adminCertPEM = pemBlock("CERTIFICATE", adminDER)
	if p.adminKeyPEM, err = keyPEM(adminKey); err != nil {
		return nil, err
	}

	// kube-apiserver accepts ECDSA service account keys too, but real clusters (EKS included)
	// sign with RSA, and token verifiers expect RSA keys in the JWKS.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPEM, err := keyPEM(saKey)
	if err != nil {
		return nil, err
	}
	servingKeyPEM, err := keyPEM(servingKey)
	if err != nil {
		return nil, err
	}
	for file, data := range map[string][]byte{
		p.caCert:            p.caPEM,
		p.servingCert:       pemBlock("CERTIFICATE", servingDER),
		p.servingKey:        servingKeyPEM,
		p.serviceAccountKey: saPEM,
	} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// newCert creates an ECDSA key (fast to generate, understood by Go, kubectl and Node) and a
// certificate for it from template, signed by parent, or self-signed when parent is nil.
func newCert(template, parent *x509.Certificate, parentKey crypto.Signer) (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	template.SerialNumber = serial
	// Backdated a little so a clock skewed between processes does not matter.
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(7 * 24 * time.Hour)
	if parent == nil {
		parent, parentKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, key.Public(), parentKey)
	return key, der, err
}

func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}
