//go:build tools

// Package tools names the command built from github.com/hashicorp/consul-template,
// so that go mod tidy records every module it needs.
package tools

import _ "github.com/hashicorp/consul-template"
