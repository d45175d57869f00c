package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes an admin kubeconfig with the certificates inline, so that it keeps
// working when copied and does not point into the data directory.
func writeKubeconfig(path, server string, p *pki) error {
	const name = "kube-controlplane"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: p.adminCertPEM, ClientKeyData: p.adminKeyPEM}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = name
	return clientcmd.WriteToFile(*cfg, path)
}

// waitReady polls until /readyz passes and the "default" namespace exists. The namespace is
// created by a bootstrap controller that /readyz does not wait for, and tests that create
// namespaced objects right away would otherwise race it.
func waitReady(ctx context.Context, server string, p *pki, exited <-chan struct{}) error {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.caPEM)
	admin, err := tls.X509KeyPair(p.adminCertPEM, p.adminKeyPEM)
	if err != nil {
		return err
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      roots,
			Certificates: []tls.Certificate{admin},
		}},
	}
	defer client.CloseIdleConnections()

	var last error
	for _, path := range []string{"/readyz", "/api/v1/namespaces/default"} {
		for {
			if last = get(ctx, client, server+path); last == nil {
				break
			}
			select {
			case <-exited:
				return errors.New("kube-apiserver exited before becoming ready")
			case <-ctx.Done():
				return fmt.Errorf("kube-apiserver not ready (%w); last error: %v", ctx.Err(), last)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	logf("kube-apiserver ready on %s", server)
	return nil
}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}
