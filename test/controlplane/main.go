// Command kube-controlplane runs a throwaway Kubernetes control plane for the test suite: an
// embedded etcd and the upstream kube-apiserver in one process, listening on 127.0.0.1 only.
//
// Once /readyz answers it prints exactly one JSON line to stdout:
//
//	{"ready":true,"kubeconfig":"…","server":"https://127.0.0.1:PORT","dataDir":"…","version":"v1.X.Y","pid":N}
//
// Everything else (etcd and apiserver logs) goes to stderr. SIGTERM or SIGINT stops the
// apiserver and etcd, removes the data directory and exits 0. Arguments after "--" are passed to
// kube-apiserver verbatim, after the defaults, so they can override them.
//
// Build it with scripts/build-controlplane.sh, which sets the version ldflags.
package main

//go:generate ./gen-replaces.sh

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"k8s.io/component-base/version"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	err := run()
	cleanup.run()
	if err != nil {
		logf("error: %v", err)
		os.Exit(1)
	}
}

// cleanup undoes what run set up (stops etcd, removes files) exactly once, last step first:
// either after run returns, or from klog.OsExit when kube-apiserver exits the process itself.
var cleanup cleanups

type cleanups struct {
	mu   sync.Mutex
	done bool
	fns  []func()
}

func (c *cleanups) add(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, fn)
}

func (c *cleanups) run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.done = true
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
}

// logger writes our own messages. Not the standard logger: kube-apiserver redirects that into
// klog, which credits every line to "???:1".
var logger = log.New(os.Stderr, "controlplane: ", log.Ltime|log.Lmicroseconds)

func logf(format string, args ...any) { logger.Printf(format, args...) }

func run() error {
	// A private flag set: some k8s.io packages register flags on flag.CommandLine in init.
	fs := flag.NewFlagSet("kube-controlplane", flag.ExitOnError)
	kubeconfigPath := fs.String("kubeconfig", "", "where to write the admin kubeconfig (default <data-dir>/kubeconfig); removed on exit")
	port := fs.Int("port", 0, "kube-apiserver secure port (0 = pick a free one)")
	readyTimeout := fs.Duration("ready-timeout", 3*time.Minute, "give up if the apiserver is not ready by then")
	verbosity := fs.Int("v", 0, "kube-apiserver log verbosity")
	stopOnStdinEOF := fs.Bool("stop-on-stdin-eof", false, "stop as on SIGTERM when stdin reaches end of file")
	_ = fs.Parse(os.Args[1:])

	// Building the command installs kube-apiserver's SIGTERM/SIGINT handler (it may only be
	// installed once per process), and its context is then the single stop signal for
	// everything here, so build it before anything that needs cleaning up.
	cmd := app.NewAPIServerCommand()
	ctx := cmd.Context()

	// kube-apiserver gives up on some errors with klog.Fatal, which exits without returning
	// here. The one a test meets is a stop during start-up: a post-start hook fails with
	// "context canceled". Clean up on that path too, and count it as the stop that was asked for.
	klog.OsExit = func(code int) {
		cleanup.run()
		if ctx.Err() != nil {
			logf("stopped during start-up")
			code = 0
		}
		os.Exit(code)
	}

	// A test runner that dies without stopping us (crash, SIGKILL) closes its end of our stdin
	// pipe; turning that into a normal stop means no apiserver or data directory is left behind.
	// It also closes our stdout and stderr: without this, the next log line would kill us with
	// SIGPIPE in the middle of that stop.
	signal.Ignore(syscall.SIGPIPE)
	if *stopOnStdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			// A dying runner may also have sent SIGTERM, and a second signal makes
			// kube-apiserver's handler exit at once, without cleaning up: send ours only if
			// none has arrived.
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
				logf("stdin closed, stopping")
				_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
			}
		}()
	}

	dataDir, err := os.MkdirTemp("", "kube-controlplane-")
	if err != nil {
		return err
	}
	cleanup.add(func() {
		if err := os.RemoveAll(dataDir); err != nil {
			logf("removing %s: %v", dataDir, err)
		}
	})
	if *kubeconfigPath == "" {
		*kubeconfigPath = filepath.Join(dataDir, "kubeconfig")
	}

	pki, err := writePKI(filepath.Join(dataDir, "pki"))
	if err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}

	etcd, etcdURL, err := startEtcd(ctx, filepath.Join(dataDir, "etcd"))
	if err != nil {
		if ctx.Err() != nil { // stopped by a signal while starting: not an error
			return nil
		}
		return fmt.Errorf("starting etcd: %w", err)
	}
	// Closed only after the apiserver has returned: it keeps talking to etcd while it drains.
	cleanup.add(etcd.Close)

	if *port == 0 {
		// Probed, so it can be lost before kube-apiserver binds it; kube-apiserver then exits with
		// "address already in use" before the ready line, and the caller starts us again.
		if *port, err = freePort(); err != nil {
			return err
		}
	}
	server := "https://127.0.0.1:" + strconv.Itoa(*port)

	// The flag set controller-runtime's envtest uses, minus what it only needs for its own
	// process management. Admission plugins keep their defaults, which include the mutating and
	// validating webhook plugins the tests exercise.
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(*port),
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--client-ca-file=" + pki.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.serviceAccountKey,
		"--service-account-signing-key-file=" + pki.serviceAccountKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// Endpoints may not point at loopback, so the default reconciler fails to publish
		// 127.0.0.1 for the "kubernetes" service and logs that every 10s. Nothing in this
		// podless cluster dials that service anyway.
		"--endpoint-reconciler-type=none",
		"--v=" + strconv.Itoa(*verbosity),
	}
	cmd.SetArgs(append(args, fs.Args()...))

	cleanup.add(func() { _ = os.Remove(*kubeconfigPath) })
	if err := writeKubeconfig(*kubeconfigPath, server, pki); err != nil {
		return err
	}

	var apiserverErr error
	apiserverDone := make(chan struct{})
	go func() {
		defer close(apiserverDone)
		apiserverErr = cmd.Execute()
	}()
	// Returns once kube-apiserver has stopped, which it only does after a signal (nil error)
	// or when it fails.
	waitApiserver := func() error {
		<-apiserverDone
		if apiserverErr != nil {
			return fmt.Errorf("kube-apiserver: %w", apiserverErr)
		}
		logf("stopped")
		return nil
	}

	readyCtx, cancel := context.WithTimeout(ctx, *readyTimeout)
	defer cancel()
	if err := waitReady(readyCtx, server, pki, apiserverDone); err != nil {
		if ctx.Err() != nil { // stopped by a signal while starting: not an error
			return waitApiserver()
		}
		select {
		case <-apiserverDone:
			return waitApiserver()
		default:
			return err
		}
	}

	line, err := json.Marshal(readyLine{
		Ready:      true,
		Kubeconfig: *kubeconfigPath,
		Server:     server,
		DataDir:    dataDir,
		Version:    version.Get().GitVersion,
		PID:        os.Getpid(),
	})
	if err != nil {
		return err
	}
	fmt.Println(string(line))

	return waitApiserver()
}

// readyLine is the one line written to stdout, for test helpers to parse.
type readyLine struct {
	Ready      bool   `json:"ready"`
	Kubeconfig string `json:"kubeconfig"`
	Server     string `json:"server"`
	DataDir    string `json:"dataDir"`
	Version    string `json:"version"`
	PID        int    `json:"pid"`
}
