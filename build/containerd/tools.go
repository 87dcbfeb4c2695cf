//go:build tools

// Package tools names the containerd commands built by
// scripts/build-binaries.sh, so that go mod tidy records every module they need.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
