package ima

import (
	"bytes"
	"encoding/hex"
	"strconv"
)

// AppendASCII appends the entry as the kernel prints it in
// ascii_runtime_measurements: "%2d" PCR, template digest, template name,
// then a space and each field in its text form (an empty field leaves just
// the space), and a newline. A binary list shown this way reads back as
// the same entries.
func (e *Entry) AppendASCII(dst []byte) []byte {
	if e.PCR < 10 {
		dst = append(dst, ' ')
	}
	dst = strconv.AppendUint(dst, uint64(e.PCR), 10)
	dst = append(dst, ' ')
	dst = hex.AppendEncode(dst, e.TemplateDigest)
	dst = append(dst, ' ')
	dst = append(dst, e.TemplateName...)
	order := e.byteOrder()
	for i := 0; i < e.nfields; i++ {
		dst = append(dst, ' ')
		f := e.Data[e.spans[i][0]:e.spans[i][1]]
		id := ""
		if e.Template != nil {
			id = e.Template.Fields[i]
		}
		switch id {
		case FieldDNG, FieldDNGv2, FieldDModsig:
			// The kernel prints the text up to the NUL ("sha256:"), then
			// the digest in hex.
			if nul := bytes.IndexByte(f, 0); nul >= 0 {
				dst = append(dst, f[:nul]...)
				f = f[nul+1:]
			}
			dst = hex.AppendEncode(dst, f)
		case FieldN, FieldNNG, FieldXattrNames:
			if nul := bytes.IndexByte(f, 0); nul >= 0 {
				f = f[:nul]
			}
			dst = append(dst, f...)
		case FieldIUID, FieldIGID, FieldIMode:
			switch len(f) {
			case 1:
				dst = strconv.AppendUint(dst, uint64(f[0]), 10)
			case 2:
				dst = strconv.AppendUint(dst, uint64(order.Uint16(f)), 10)
			case 4:
				dst = strconv.AppendUint(dst, uint64(order.Uint32(f)), 10)
			case 8:
				dst = strconv.AppendUint(dst, order.Uint64(f), 10)
			}
		default: // d, sig, buf, modsig, evmsig, xattr lengths/values, opaque
			dst = hex.AppendEncode(dst, f)
		}
	}
	return append(dst, '\n')
}
