package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startEtcd runs a single-member etcd in dir, serving plain HTTP on free loopback ports, and
// returns once it accepts requests, with the URL its clients reach it on.
//
// The ports are probed beforehand, so another socket (say the local end of one of the many
// connections a load test opens) can take one before etcd binds it. etcd then fails at once, before
// touching dir, and new ports fix it. (Listening on ":0" instead is no cure: etcd's own gateway
// then dials the listen address as written, port 0 included.)
func startEtcd(ctx context.Context, dir string) (*embed.Etcd, string, error) {
	for attempt := 1; ; attempt++ {
		e, clientURL, err := startEtcdOnce(ctx, dir)
		if err == nil || attempt == 5 || !errors.Is(err, syscall.EADDRINUSE) {
			return e, clientURL, err
		}
		logf("etcd: %v; trying other ports", err)
	}
}

func startEtcdOnce(ctx context.Context, dir string) (*embed.Etcd, string, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	clientURL := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(clientPort)}
	peerURL := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(peerPort)}

	cfg := embed.NewConfig()
	cfg.Name = "controlplane"
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// The data is thrown away at exit, so durability only costs time on a busy test machine.
	cfg.UnsafeNoFsync = true
	// etcd logs request statistics at warn level for every apiserver request.
	cfg.LogLevel = "error"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
		logf("etcd ready on %s", clientURL.String())
		return e, clientURL.String(), nil
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("etcd failed: %w", err)
	case <-time.After(time.Minute):
		e.Close()
		return nil, "", errors.New("etcd not ready after 1m")
	case <-ctx.Done():
		e.Close()
		return nil, "", ctx.Err()
	}
}

// freePort asks the kernel for a loopback port that is unused right now. Whoever binds it later
// must expect "address already in use" and try again with a new one.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
