// Package tpm2dpb holds the Go messages protoc-gen-go generates from
// cml/tpm2d.proto, GyroidOS CML's tpm2d protocol; package cml frames,
// sends and judges them. Do not edit tpm2d.pb.go: `make generate`
// rewrites it, and a test in package cml fails when it drifts from the
// .proto.
package tpm2dpb
