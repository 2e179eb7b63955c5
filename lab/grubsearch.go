package lab

import "path/filepath"

// grubSearchConfig is a Debian-style grub.cfg that finds its kernel with
// search, sources a second configuration file when it exists, picks the
// initrd with test -f (its else branch not taken), tests the sourced file
// again with "! test -s" (which opens it), and loads a module
// that Debian's monolithic image does not build in, so that every kind of
// file GRUB measures shows in PCR 9: the search probe, the sourced file,
// the module and the kernel and initrd.
func grubSearchConfig() string {
	return "set timeout=0\nset default=0\n" +
		"search --no-floppy --file --set=root /vmlinuz\n" +
		"if [ -e /EFI/debian/extra.cfg ]; then\n\tsource /EFI/debian/extra.cfg\nfi\n" +
		"if ! test -s /EFI/debian/extra.cfg; then\n\tset extra_args=\"" + Cmdline + "\"\nfi\n" +
		"if test -f /initrd.img; then\n\tset initrd=/initrd.img\nelse\n\tset initrd=/initrd-missing.img\nfi\n" +
		"insmod part_gpt\ninsmod " + grubSearchModule + "\n" +
		"menuentry 'goldenpcr grub-search' --class debian {\n" +
		"\tlinuxefi /vmlinuz $extra_args\n\tinitrdefi $initrd\n}\n"
}

// grubSearchExtra is the file grubSearchConfig sources: it sets the
// kernel's command line.
const grubSearchExtra = "set extra_args=\"" + Cmdline + "\"\n"

// grubSearchModule is not in Debian's monolithic grubx64.efi: insmod
// loads it from $prefix/x86_64-efi (its one dependency, extcmd, is built
// in).
const grubSearchModule = "hexdump"

func (l *Lab) grubSearchLayout() (*layout, error) {
	k, initrd, err := l.kernelAndInitrd()
	if err != nil {
		return nil, err
	}
	cfg, err := l.cachedText("grub-search-cfg", "grub.cfg", grubSearchConfig())
	if err != nil {
		return nil, err
	}
	extra, err := l.cachedText("grub-search-extra", "extra.cfg", grubSearchExtra)
	if err != nil {
		return nil, err
	}
	mod := filepath.Join(grubModules, grubSearchModule+".mod")
	return &layout{
		ESP: map[string]string{
			"EFI/BOOT/BOOTX64.EFI":                               grubMonolithic,
			"EFI/debian/grub.cfg":                                cfg,
			"EFI/debian/extra.cfg":                               extra,
			"EFI/debian/x86_64-efi/" + grubSearchModule + ".mod": mod,
			"vmlinuz":    k.Vmlinuz,
			"initrd.img": initrd,
		},
		Artifacts: map[string]string{"grubx64.efi": grubMonolithic, "grub.cfg": cfg, "extra.cfg": extra,
			grubSearchModule + ".mod": mod, "vmlinuz": k.Vmlinuz, "initrd.img": initrd},
	}, nil
}
