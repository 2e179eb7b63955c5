package tpmstruct

import "github.com/goldenpcr/goldenpcr/internal/testfixtures"

const (
	quoteDir = testfixtures.QuoteDir
	cmlDir   = testfixtures.CMLDir
)

var (
	genuine      = testfixtures.Genuine
	readFile     = testfixtures.Read
	readHex      = testfixtures.ReadHex
	fixtureNonce = testfixtures.Nonce
)
