// Package optname words the option an error or a note of a library asks
// its caller for. A library names its options by the Go fields that set
// them; a caller with words of its own (goldenpcr's CLI: its flags)
// passes a function that words them, so a message names what its reader
// can type.
package optname

// Word returns name(o), or o itself (the library's word) when name is nil
// or has no word for o.
func Word[O ~string](name func(O) string, o O) string {
	if name != nil {
		if s := name(o); s != "" {
			return s
		}
	}
	return string(o)
}
