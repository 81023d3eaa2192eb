package archive

// The signature checks OpenSigned is made of, for the tests that pin each
// step.
var (
	VerifySignatureFile       = verifySignatureFile
	VerifySignature           = verifySignature
	VerifySignatureBeforeOpen = verifySignatureBeforeOpen
)
