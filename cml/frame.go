package cml

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrame is the length from which a frame is refused: tpm2d's messages
// stay below 64 MiB, and a reader must not allocate what a peer claims.
const MaxFrame = 64 << 20

// FrameError is a frame that cannot be read: its length is zero or too
// large, or the stream ends inside it. Offset is the byte of the stream
// where the problem is.
type FrameError struct {
	Offset int64
	Reason string
	// Err is the underlying read error, if any.
	Err error
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("frame at byte %d: %s", e.Offset, e.Reason)
}

func (e *FrameError) Unwrap() error { return e.Err }

// FrameReader reads length-prefixed frames from a stream, keeping the
// byte offset for its errors.
type FrameReader struct {
	r   io.Reader
	off int64
	// Max is the length from which a frame is refused; 0 means MaxFrame.
	Max uint32
}

// NewFrameReader reads frames from r.
func NewFrameReader(r io.Reader) *FrameReader { return &FrameReader{r: r} }

// Offset is the number of bytes read so far.
func (fr *FrameReader) Offset() int64 { return fr.off }

// ReadFrame returns the next frame's payload. io.EOF means the stream
// ended cleanly before a frame began; any other end is a FrameError. The
// payload is read as it arrives, so a length a peer claims is never
// allocated up front.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	max := fr.Max
	if max == 0 {
		max = MaxFrame
	}
	start := fr.off
	var hdr [4]byte
	n, err := io.ReadFull(fr.r, hdr[:])
	fr.off += int64(n)
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case err != nil:
		return nil, &FrameError{Offset: fr.off, Err: err,
			Reason: fmt.Sprintf("the stream ended after %d of the 4 length bytes (%v)", n, readErr(err))}
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size == 0 {
		return nil, &FrameError{Offset: start, Reason: "length 0: an empty message, which lacks the required code field"}
	}
	if size >= max {
		return nil, &FrameError{Offset: start, Reason: fmt.Sprintf("length %d (%s) is not below the limit of %d bytes (%s)", size, sizeText(uint64(size)), max, sizeText(uint64(max)))}
	}
	payload, err := io.ReadAll(io.LimitReader(fr.r, int64(size)))
	fr.off += int64(len(payload))
	if err == nil && len(payload) < int(size) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, &FrameError{Offset: fr.off, Err: err,
			Reason: fmt.Sprintf("length %d, but the stream ended after %d bytes of it (%v)", size, len(payload), readErr(err))}
	}
	return payload, nil
}

// readErr words an error that ended a frame.
func readErr(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed"
	}
	return err.Error()
}

// sizeText says a byte count in the largest binary unit it fills.
func sizeText(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// AppendFrame appends payload, framed, to b. It refuses a payload that is
// empty or too large for a frame.
func AppendFrame(b, payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return nil, errors.New("cml: an empty message cannot be framed (code is required)")
	}
	if len(payload) >= MaxFrame {
		return nil, fmt.Errorf("cml: a %d-byte message is not below the frame limit of %d bytes", len(payload), MaxFrame)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...), nil
}

// WriteFrame writes payload as one frame.
func WriteFrame(w io.Writer, payload []byte) error {
	b, err := AppendFrame(nil, payload)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
