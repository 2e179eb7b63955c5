package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// mkfsTool finds an e2fsprogs tool, also in /usr/sbin when that is not on
// PATH.
func mkfsTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/" + name); err == nil {
		return "/usr/sbin/" + name
	}
	t.Fatalf("%s not installed: run `make deps` (Debian package e2fsprogs)", name)
	return ""
}

// ext4Tree writes a root filesystem with what an image stores in different
// ways: nested directories, an empty file, a name with a space, a 9 MiB
// file (more than one 8 MiB block group with 1 KiB blocks), a file of 100
// data runs between zero runs (mkfs -d stores the zeros as holes: 100
// extents, an extent tree of depth 1), a sparse file made with truncate, a
// symlink and a hard link.
func ext4Tree(t *testing.T, dir string) {
	t.Helper()
	put := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	put("usr/bin/tool", []byte("#!/bin/sh\necho tool\n"))
	put("usr/lib/deep/er/still/lib.so", random(5000))
	put("etc/empty", nil)
	put("etc/with space.conf", []byte("a = b\n"))
	put("opt/big.bin", random(9<<20+77))
	var frag []byte
	for i := 0; i < 100; i++ {
		frag = append(frag, random(4096)...)
		frag = append(frag, make([]byte, 8192)...)
	}
	put("opt/frag.bin", frag)
	put("var/sparse", []byte("head"))
	if err := os.Truncate(filepath.Join(dir, "var/sparse"), 2<<20+3); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("tool", filepath.Join(dir, "usr/bin/alias")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "usr/bin/tool"), filepath.Join(dir, "usr/bin/tool-hardlink")); err != nil {
		t.Fatal(err)
	}
}

var policyTimestamp = regexp.MustCompile(`"timestamp": "[^"]*"`)

// `ima policy` on ext2/3/4 images made by the real mkfs from a tree gives
// exactly what it gives on the tree, in both formats and with excludes.
func TestImaPolicyExt4Image(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "rootfs")
	ext4Tree(t, src)
	want := map[string]string{}
	for _, args := range [][]string{{"--format", "sha256sum"}, {"--format", "keylime"}, {"--format", "sha256sum", "--exclude", "/opt/.*", "--hash", "sha1"}} {
		code, out, errOut := run(t, append([]string{"ima", "policy", src}, args...)...)
		if code != 0 {
			t.Fatalf("directory %v: exit %d: %s", args, code, errOut)
		}
		want[strings.Join(args, " ")] = policyTimestamp.ReplaceAllString(out, "")
	}
	if !strings.Contains(want["--format sha256sum"], "  /etc/with space.conf\n") || !strings.Contains(want["--format sha256sum"], "/opt/frag.bin") {
		t.Fatalf("directory list:\n%s", want["--format sha256sum"])
	}
	for _, c := range []struct {
		name, tool, source string
		args               []string
	}{
		{"ext4-1k", "mkfs.ext4", "ext4 image", []string{"-b", "1024"}},
		{"ext4-4k", "mkfs.ext4", "ext4 image", []string{"-b", "4096"}},
		{"ext4-64bit", "mkfs.ext4", "ext4 image", []string{"-b", "4096", "-O", "64bit"}},
		{"ext4-noextent", "mkfs.ext4", "ext4 image", []string{"-b", "1024", "-O", "^extent,^64bit"}},
		{"ext2", "mke2fs", "ext2 image", []string{"-t", "ext2", "-b", "1024"}},
		{"ext3", "mke2fs", "ext3 image", []string{"-t", "ext3", "-b", "4096"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "rootfs.img")
			args := append([]string{"-q", "-F", "-d", src}, c.args...)
			runTool(t, dir, mkfsTool(t, c.tool), append(args, img, "40M")...)
			for key, w := range want {
				code, out, errOut := run(t, append([]string{"ima", "policy", img}, strings.Fields(key)...)...)
				if got := policyTimestamp.ReplaceAllString(out, ""); code != 0 || got != w {
					t.Errorf("%s: exit %d %s\n%s\nwant\n%s", key, code, errOut, got, w)
				}
			}
			code, out, errOut := run(t, "ima", "policy", img, "-O", filepath.Join(t.TempDir(), "p.json"))
			if code != 0 || !strings.Contains(out, "("+c.source+"): 8 files") || !strings.Contains(out, "1 symlinks") {
				t.Errorf("summary: exit %d %s %s", code, out, errOut)
			}
		})
	}
}

// Damaged images fail with exit 2 and an error naming the damage, never a
// panic or a partial policy.
func TestImaPolicyExt4Malformed(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "rootfs")
	ext4Tree(t, src)
	img := filepath.Join(dir, "rootfs.img")
	runTool(t, dir, mkfsTool(t, "mkfs.ext4"), "-q", "-F", "-d", src, "-b", "4096", img, "40M")
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, bad []byte, substr string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, "ima", "policy", p)
		if code != 2 || out != "" || !strings.Contains(errOut, "ext2/3/4 file system image") || !strings.Contains(errOut, substr) {
			t.Errorf("%s: exit %d, stdout %d bytes, stderr %s", name, code, len(out), errOut)
		}
	}
	check("truncated.img", data[:len(data)/3], "truncated")
	// Group 0's descriptors, bitmaps and inode table (blocks 1-1023 of
	// 4 KiB) wiped: the root directory's inode cannot be found.
	zeroed := bytes.Clone(data)
	clear(zeroed[4096 : 4096*1024])
	check("wiped.img", zeroed, "inode 2")
}

// A tar archive whose first file happens to hold the ext4 magic where the
// superblock's would be is still read as a tar.
func TestImaPolicyTarWithExt4Magic(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "rootfs")
	content := make([]byte, 1000)
	content[1080-512], content[1081-512] = 0x53, 0xef
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(dir, "rootfs.tar")
	runTool(t, src, "tar", "cf", tarball, "a")
	head, _ := os.ReadFile(tarball)
	if len(head) < 1082 || head[1080] != 0x53 || head[1081] != 0xef {
		t.Fatal("tar did not put the magic at 1080")
	}
	code, out, errOut := run(t, "ima", "policy", tarball, "--format", "sha256sum")
	_, want, _ := run(t, "ima", "policy", src, "--format", "sha256sum")
	if code != 0 || out != want {
		t.Errorf("exit %d %s\n%s\nwant\n%s", code, errOut, out, want)
	}
}
