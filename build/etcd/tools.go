//go:build tools

// Package tools names the etcd commands built by scripts/build-binaries.sh,
// so that go mod tidy records every module they need.
package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
