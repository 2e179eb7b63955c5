// Package refvals owns the calculators that turn build artifacts into the
// measurements a correct boot must produce: each takes files (a UKI, EFI
// binaries, signature lists…) and appends the predicted events to a
// baseline.Builder, which replays them into golden PCR values.
package refvals
