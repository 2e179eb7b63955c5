// Package atomicfile writes output files so that a reader never sees a
// half-written file and a crash never leaves one behind: the data goes to a
// temporary file in the same directory, is synced, and is renamed over the
// destination.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrRefused is what every refusal of Write wraps: the destination is an
// input, lies inside an input directory, or is not a regular file.
var ErrRefused = errors.New("refused")

// refusal is a refusal naming the destination and why.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return ErrRefused }

func refuse(format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...)}
}

// Write replaces path with data atomically: the data goes to a temporary
// file in path's directory, which is synced and renamed over path, and no
// temporary file is left behind when anything fails.
//
// It refuses, with an error wrapping ErrRefused and naming path:
//   - a path that is one of the inputs, by any name (a symbolic or hard
//     link to it), or an existing file inside an input that is a
//     directory, so a command never destroys what it read (a new file
//     there is allowed: "ima policy / -O /tmp/policy" must work);
//   - a path that exists and is not a regular file — a symbolic link, a
//     directory, a named pipe, a device or a socket — which the rename
//     would replace with a regular file.
//
// An existing file keeps its permission bits; a new file gets perm.
// Inputs that do not exist are ignored.
func Write(path string, data []byte, perm os.FileMode, inputs ...string) error {
	if err := refuseInput(path, inputs); err != nil {
		return err
	}
	mode, err := destination(path, perm)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Look again just before the rename: what was a regular file (or
	// nothing) may have been replaced while the data was written.
	if _, err := destination(path, perm); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// destination checks what is at path now and returns the mode the new
// file gets: perm for a new file, the old permission bits for a regular
// file; anything else is refused.
func destination(path string, perm os.FileMode) (os.FileMode, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return perm, nil
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	m := st.Mode()
	var what string
	switch {
	case m.IsRegular():
		return m.Perm(), nil
	case m&fs.ModeSymlink != 0:
		what = "a symbolic link"
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a block device"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	default:
		what = fmt.Sprintf("not a regular file (%v)", m.Type())
	}
	return 0, refuse("refusing to replace %s: it is %s, and writing atomically would replace it with a regular file", path, what)
}

// refuseInput refuses a path that is one of the inputs or an existing
// file inside an input directory. Files are compared with os.SameFile, so links, "..",
// bind mounts and other names of the same file are caught; a directory
// input is compared with each directory from path's real parent up to /.
func refuseInput(path string, inputs []string) error {
	type input struct {
		name string
		st   os.FileInfo
	}
	var files, dirs []input
	for _, in := range inputs {
		if in == "" {
			continue
		}
		st, err := os.Stat(in)
		if err != nil {
			continue // nothing there to overwrite
		}
		if st.IsDir() {
			dirs = append(dirs, input{in, st})
		} else {
			files = append(files, input{in, st})
		}
	}
	if len(files) == 0 && len(dirs) == 0 {
		return nil
	}
	out, err := os.Stat(path)
	if err != nil {
		return nil // a new file replaces nothing that was read
	}
	{
		for _, in := range files {
			if os.SameFile(in.st, out) {
				if filepath.Clean(in.name) == filepath.Clean(path) {
					return refuse("refusing to overwrite input file %s", path)
				}
				return refuse("refusing to overwrite input file %s (it is the input %s)", path, in.name)
			}
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	parent, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	for d := parent; ; {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		for _, in := range dirs {
			if os.SameFile(in.st, st) {
				return refuse("refusing to overwrite %s: it lies inside the input directory %s", path, in.name)
			}
		}
		up := filepath.Dir(d)
		if up == d {
			return nil
		}
		d = up
	}
}

// syncDir makes the rename durable; file systems that cannot sync a
// directory are not an error, the data itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
